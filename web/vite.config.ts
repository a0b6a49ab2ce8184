import { defineConfig } from 'vitest/config';

// Relative asset paths let the same build be served from `/` locally and from any S3 prefix.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', target: 'es2022', sourcemap: true },
  server: { host: '127.0.0.1', port: 5173 },
  test: { include: ['tests/unit/**/*.test.ts'], environment: 'node' },
});
