// Launch the system Chromium (Debian package) through playwright-core; no browser downloads.
import { chromium } from 'playwright-core';

export const BASE_URL = process.env.CHAT_E2E_BASE_URL ?? 'http://localhost:8080';
export const ARTIFACTS = new URL('../test-results/', import.meta.url).pathname;

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
