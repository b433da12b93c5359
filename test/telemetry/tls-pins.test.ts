import t from 'tap';
import { X509Certificate, createHash } from 'node:crypto';
import { ErrorCode } from '../../agent/errors.js';
import { parsePins, pinMatches } from '../../agent/telemetry/tls-pins.js';

// A throw-away self-signed P-256 certificate (its key was discarded): EC is the
// case where the key tls reports is not the SPKI, so it is the one worth testing.
const PEM = `-----BEGIN CERTIFICATE-----
MIIBjjCCATSgAwIBAgIUJzmhKjNgQBCyV6VkfIsybYafab4wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJY29sbGVjdG9yMB4XDTI2MTEyMzEzMjE0OVoXDTI2MTEyNTEz
MjE0OVowFDESMBAGA1UEAwwJY29sbGVjdG9yMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEUN2BrE4ql19V1+UDVMaPLhlpwCVi2ZsTaTLQTRjsSp8e8o+kPVgWINy7
9vbRuC/zD45IgjRUwAFFOP1O2RXbaaNkMGIwHQYDVR0OBBYEFAhVT8CDZIxyDtzb
dxC6Pbgf7LBVMB8GA1UdIwQYMBaAFAhVT8CDZIxyDtzbdxC6Pbgf7LBVMA8GA1Ud
EwEB/wQFMAMBAf8wDwYDVR0RBAgwBocEfwAAATAKBggqhkjOPQQDAgNIADBFAiEA
hhBK/CW9r0lQXMOnWlk+hmcxdiAMxiU3oJwNSu+57DgCIB82FHgIuPS3yEz9fqgQ
CPf0Q1QAZTssBvIi+Ikxenb6
-----END CERTIFICATE-----
`;
const x509 = new X509Certificate(PEM);
const raw = x509.raw;
const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
const spkiPin = `sha256/${createHash('sha256').update(spki).digest('base64')}`;
const certHex = createHash('sha256').update(raw).digest('hex');
const certPin = `cert-sha256/${certHex.toUpperCase().match(/../g)!.join(':')}`;

t.test('a matching SPKI or certificate pin accepts the peer', async (t) => {
  t.ok(pinMatches(parsePins([spkiPin]), { raw }));
  t.ok(pinMatches(parsePins([certPin]), { raw }), 'colon-separated upper-case hex is accepted');
  t.ok(pinMatches(parsePins(['cert-sha256/' + '0'.repeat(64), spkiPin]), { raw }), 'any pin of a list');
});

t.test('a different key or certificate is refused', async (t) => {
  const other = parsePins([`sha256/${Buffer.alloc(32, 7).toString('base64')}`, `cert-sha256/${'ab'.repeat(32)}`]);
  t.notOk(pinMatches(other, { raw }));
  t.notOk(pinMatches(parsePins([spkiPin]), {}), 'a peer without certificate details');
  t.notOk(pinMatches(parsePins([spkiPin]), { raw: Buffer.from('not DER') }), 'garbage is not a match');
});

t.test('malformed pins are configuration errors', async (t) => {
  for (const bad of ['md5/abc', 'sha256/too-short', 'cert-sha256/xyz', 'cert-sha256/' + 'a'.repeat(63), '']) {
    t.throws(() => parsePins([bad]), { code: ErrorCode.CONFIG_INVALID }, bad);
  }
});
