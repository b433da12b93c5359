import { AccelError, ErrorCode } from '../../errors.js';
import { canonicalPciBusId } from '../../model/device.js';

/** What /proc/driver/nvidia/gpus/<bus id>/information says about one GPU. */
export interface GpuInformation {
  model: string;
  /** Null when the driver has not read it yet (it prints question marks). */
  uuid: string | null;
  pciBusId: string;
  minor: number | null;
}

/**
 * Parses the `Key: <tabs> value` lines of an information file:
 *   Model:           Tesla P4
 *   GPU UUID:        GPU-e0ab8bbd-8ad9-8c4a-3ab0-79fa07e9b0a4
 *   Bus Location:    0000:00:07.0
 *   Device Minor:    0
 * Model and Bus Location are required; the file is useless without them.
 */
export function parseGpuInformation(text: string, file = 'information'): GpuInformation {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z][A-Za-z ]*?):\s*(.*?)\s*$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!);
  }
  const model = fields.get('Model');
  if (!model || /[\x00-\x1f]/.test(model)) throw bad(file, 'no Model line');
  const location = fields.get('Bus Location');
  if (location === undefined) throw bad(file, 'no Bus Location line');
  let pciBusId: string;
  try {
    pciBusId = canonicalPciBusId(location);
  } catch {
    throw bad(file, `Bus Location ${JSON.stringify(location)} is not a PCI address`);
  }
  const rawUuid = fields.get('GPU UUID');
  const uuid = rawUuid !== undefined && /^GPU-[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$/.test(rawUuid) ? rawUuid : null;
  const rawMinor = fields.get('Device Minor');
  let minor: number | null = null;
  if (rawMinor !== undefined) {
    if (!/^\d{1,3}$/.test(rawMinor)) throw bad(file, `Device Minor ${JSON.stringify(rawMinor)} is not a number`);
    minor = Number(rawMinor);
  }
  return { model, uuid, pciBusId, minor };
}

function bad(file: string, reason: string): AccelError {
  return new AccelError(ErrorCode.HOST_PARSE, `${file}: ${reason}`);
}
