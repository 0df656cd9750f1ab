// Builds the analyzer page into the Python package (served by `spacelens ui`).
// `npm run dev` serves it with hot reload and forwards /api to a running `spacelens ui`.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    outDir: '../src/spacelens/server/static',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8501' },
  },
});
