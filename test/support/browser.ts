/**
 * Browser tests drive Debian's Chromium through playwright-core (never a downloaded browser). One
 * browser per test file; each test signs in with a fresh context through the real login form.
 *
 * @example
 * const browser = await launchChromium();
 * const { page, errors } = await signIn(browser, s.url, email, password);
 * await expectAccessible(page, 'kanban', 'test-artifacts/ui');
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

export interface SignedIn {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, for tests that require none. */
  errors: string[];
}

/** A fresh context signed in through the login form, on the board. */
export async function signIn(browser: Browser, baseUrl: string, email: string, password: string, options: BrowserContextOptions = {}): Promise<SignedIn> {
  const context = await browser.newContext({ locale: 'pt-BR', viewport: { width: 1440, height: 900 }, ...options });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${baseUrl}/login`);
  await page.getByTestId('login-email').fill(email);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.waitForURL(`${baseUrl}/`);
  await page.getByTestId('current-user').waitFor();
  return { context, page, errors };
}

/** A screenshot under `artifacts`, and no serious or critical axe-core violation on the page as it is now. */
export async function expectAccessible(page: Page, name: string, artifacts: string): Promise<void> {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}/${name}.png`, fullPage: true });
  await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, o: object): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  });
  expect(violations, name).toEqual([]);
}
