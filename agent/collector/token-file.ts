import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { AccelError, ErrorCode } from '../errors.js';

/**
 * Bearer tokens agents must present, one per line ('#' starts a comment).
 * Several lines allow rotation: add the new token, roll the agents, remove the
 * old one. The file is re-read whenever its identity, size or mtime changes, so
 * a rotation needs no restart; comparison hashes both sides and uses a
 * constant-time compare, so timing says nothing about how much of a guess matched.
 */
export class TokenFile {
  private digests: Buffer[] = [];
  private stamp = '';

  constructor(readonly file: string) {}

  private async refresh(): Promise<void> {
    let st;
    try {
      st = await stat(this.file);
    } catch (err) {
      throw new AccelError(ErrorCode.COLLECTOR_AUTH, `cannot read token file ${this.file}`, { cause: err });
    }
    const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (stamp === this.stamp) return;
    const text = await readFile(this.file, 'utf8');
    this.digests = parseTokens(text).map(digest);
    this.stamp = stamp;
  }

  /** True when `presented` equals one of the file's tokens. An empty file accepts nobody. */
  async accepts(presented: string | undefined): Promise<boolean> {
    await this.refresh();
    if (!presented) return false;
    const d = digest(presented);
    let ok = false;
    for (const known of this.digests) ok = timingSafeEqual(d, known) || ok;
    return ok;
  }
}

export function parseTokens(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  return m ? m[1] : undefined;
}
