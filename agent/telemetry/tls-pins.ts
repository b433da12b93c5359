import { X509Certificate, createHash } from 'node:crypto';
import { AccelError, ErrorCode } from '../errors.js';

/**
 * Optional pinning of the collector's certificate on top of CA validation:
 *   sha256/<base64>        SHA-256 of the leaf's SubjectPublicKeyInfo (survives re-issuing with the same key)
 *   cert-sha256/<hex>      SHA-256 of the whole leaf certificate (colons optional)
 * Any one matching pin is enough, so a rotation can list old and new.
 */
export interface Pins {
  spki: Set<string>;
  cert: Set<string>;
}

export function parsePins(list: readonly string[]): Pins {
  const pins: Pins = { spki: new Set(), cert: new Set() };
  for (const raw of list) {
    const pin = raw.trim();
    if (pin.startsWith('sha256/')) {
      const b64 = pin.slice('sha256/'.length);
      if (Buffer.from(b64, 'base64').length !== 32) throw new AccelError(ErrorCode.CONFIG_INVALID, `SPKI pin ${JSON.stringify(raw)} is not a base64 SHA-256 digest`);
      pins.spki.add(Buffer.from(b64, 'base64').toString('base64'));
    } else if (pin.startsWith('cert-sha256/')) {
      const hex = pin.slice('cert-sha256/'.length).replace(/:/g, '').toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(hex)) throw new AccelError(ErrorCode.CONFIG_INVALID, `certificate pin ${JSON.stringify(raw)} is not a hex SHA-256 digest`);
      pins.cert.add(hex);
    } else {
      throw new AccelError(ErrorCode.CONFIG_INVALID, `pin ${JSON.stringify(raw)} must start with sha256/ or cert-sha256/`);
    }
  }
  return pins;
}

export interface PeerCertificateLike {
  /** The DER certificate, as `tls` reports it. */
  raw?: Buffer;
}

/**
 * The SPKI is derived from the DER certificate: the `pubkey` field `tls`
 * reports is the bare key for EC certificates, not the SubjectPublicKeyInfo.
 */
export function pinMatches(pins: Pins, cert: PeerCertificateLike): boolean {
  if (!cert.raw) return false;
  if (pins.cert.has(createHash('sha256').update(cert.raw).digest('hex'))) return true;
  if (pins.spki.size === 0) return false;
  let spki: Buffer;
  try {
    spki = new X509Certificate(cert.raw).publicKey.export({ type: 'spki', format: 'der' });
  } catch {
    return false;
  }
  return pins.spki.has(createHash('sha256').update(spki).digest('base64'));
}
