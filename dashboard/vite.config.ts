import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

/** `npm run build` → dist/dashboard-web, which src/dashboard serves on `[api] dashboard_port`. */
export default defineConfig({
  root: here,
  base: '/',
  plugins: [preact()],
  build: { outDir: `${here}../dist/dashboard-web`, emptyOutDir: true, sourcemap: true, chunkSizeWarningLimit: 600 },
  logLevel: 'warn',
});
