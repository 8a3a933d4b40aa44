import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

/**
 * Deterministic generated text, written in 1 MiB blocks (never held whole): the report's
 * "large generated artifact rewritten every turn". Every line carries the turn, so two turns
 * share no line, as with the report's build logs.
 */
export async function writeGenerated(path: string, bytes: number, turn: number, edit?: { every: number; turn: number }): Promise<void> {
  const out = createWriteStream(path);
  let written = 0;
  let i = 0;
  let block = '';
  while (written < bytes) {
    const t = edit && i % edit.every === 0 ? edit.turn : turn;
    let line = `turn ${t} line ${String(i).padStart(9, '0')} generated artifact payload ${(i * 7919) % 1000003} abcdefghijklmnopqrstuvwxyz\n`;
    if (written + line.length > bytes) line = `turn ${t} ${'='.repeat(Math.max(0, bytes - written - 8 - String(t).length))}\n`.slice(0, bytes - written);
    block += line;
    written += line.length;
    i++;
    if (block.length >= 1 << 20) {
      if (!out.write(block)) await once(out, 'drain');
      block = '';
    }
  }
  out.end(block);
  await once(out, 'finish');
}

/** A file of a few distinct lines repeated until `bytes`; `variant` shifts the cycle now and then. */
export async function writeRepetitive(path: string, bytes: number, variant: number): Promise<void> {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta', 'theta'].map((w) => `  ${w} = value;\n`);
  const out = createWriteStream(path);
  let written = 0;
  let i = 0;
  let block = '';
  while (written < bytes) {
    let line = words[(i + (variant && i % 50000 === 0 ? 3 : 0)) % words.length]!;
    if (written + line.length > bytes) line = line.slice(0, bytes - written);
    block += line;
    written += line.length;
    i++;
    if (block.length >= 1 << 20) {
      if (!out.write(block)) await once(out, 'drain');
      block = '';
    }
  }
  out.end(block);
  await once(out, 'finish');
}
