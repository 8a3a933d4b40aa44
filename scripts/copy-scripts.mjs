// Copies the shell scripts the package runs (src/**/*.sh) beside their compiled modules in dist/src/.
import { copyFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const entry of readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.sh')) continue;
  const from = join(entry.parentPath ?? entry.path, entry.name);
  copyFileSync(from, join(root, 'dist', from.slice(root.length + 1)));
}
