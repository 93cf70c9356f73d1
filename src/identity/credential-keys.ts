import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../common/config.js';

/**
 * The keys credential blobs are encrypted with at rest (Keystone's `[credential] key_repository`):
 * AES-256-GCM, one 32-byte key per file, named by number; the highest number encrypts, every key
 * decrypts what it encrypted (each row records the sha256 of its key), so an operator rotates by
 * adding a file and, once every row is re-encrypted, removing the old one. The repository is made
 * with one key on first use (mode 0700/0600), like `keystone-manage credential_setup`; several API
 * processes must share it (the same files on every controller).
 */

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface Sealed { ciphertext: string; keyHash: string }

export class CredentialKeys {
  private readonly keys = new Map<string, Buffer>();
  private primary: { hash: string; key: Buffer } | null = null;

  constructor(private readonly dir: string) {}

  static fromConfig(config: Config): CredentialKeys {
    return new CredentialKeys(config.opt('credential', 'key_repository') || config.statePath('credential-keys'));
  }

  private load(): { hash: string; key: Buffer } {
    if (this.primary) return this.primary;
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const numbered = (): number[] => readdirSync(this.dir).filter((f) => /^\d+$/.test(f)).map(Number).sort((a, b) => a - b);
    if (numbered().length === 0) {
      try {
        writeFileSync(join(this.dir, '0'), randomBytes(KEY_BYTES).toString('base64'), { mode: 0o600, flag: 'wx' });
      } catch (err) {
        // Another process made it first: use its key.
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    for (const n of numbered()) {
      const key = Buffer.from(readFileSync(join(this.dir, String(n)), 'utf8').trim(), 'base64');
      if (key.length !== KEY_BYTES) throw new Error(`credential key ${join(this.dir, String(n))} is not ${KEY_BYTES} bytes of base64`);
      const hash = createHash('sha256').update(key).digest('hex');
      this.keys.set(hash, key);
      this.primary = { hash, key };
    }
    return this.primary!;
  }

  /** Encrypts `plain`, bound to `context` (the row's id and user: a blob copied to another row does not decrypt). */
  seal(plain: string, context: string): Sealed {
    const { hash, key } = this.load();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return { ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64'), keyHash: hash };
  }

  open(sealed: Sealed, context: string): string {
    this.load();
    const key = this.keys.get(sealed.keyHash);
    if (!key) throw new Error('the key this credential was encrypted with is not in the key repository');
    const raw = Buffer.from(sealed.ciphertext, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}
