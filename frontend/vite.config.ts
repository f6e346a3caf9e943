import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// Same-origin in production (the edge serves dist/ and proxies /v1); the dev server proxies /v1 to
// the edge so `npm run dev` behaves like the real thing.
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', sourcemap: true },
  server: {
    port: 18500,
    proxy: { '/v1': { target: 'http://localhost:8080', ws: true, changeOrigin: false } },
  },
  test: {
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
    environment: 'node',
  },
});
