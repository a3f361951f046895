// Loads the served web build in Debian's headless Chromium with a fake camera and checks, from
// the app's own log lines: the menu appears, the fake camera's frames reach the app, FaceKat
// starts, the demo gallery loads over HTTP; then, in a browser that refuses the camera, the demo
// clip takes over. Saves screenshots (docs/web.png, docs/web-gallery.png beside it) and prints
// load-to-menu time.
//   node web/test/page_test.mjs [--build webgl2|webgpu] [--port 8093] [--shot docs/web.png]
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const port = Number(arg('port', '8093'));
const build = arg('build', 'webgl2');
const shot = path.resolve(repo, arg('shot', 'docs/web.png'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const server = spawn('python3', [path.join(repo, 'web/serve'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((ok, bad) => {
  server.stdout.on('data', (d) => String(d).includes('serving') && ok());
  server.on('exit', (c) => bad(new Error(`web/serve exited with ${c} (did web/build.sh run?)`)));
});

const logs = [];
const waiters = [];
const seen = (needle) => logs.some((l) => l.includes(needle));
const waitFor = (needle, seconds) =>
  new Promise((ok, bad) => {
    if (seen(needle)) return ok();
    const timer = setTimeout(() => bad(new Error(`no "${needle}" in the page's log after ${seconds} s`)), seconds * 1000);
    waiters.push({ needle, done: () => (clearTimeout(timer), ok()), fail: (e) => (clearTimeout(timer), bad(e)) });
  });

const common = [
  '--no-sandbox', '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-quic', '--use-fake-device-for-media-stream',
  '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist', '--autoplay-policy=no-user-gesture-required',
  // SwiftShader through ANGLE's and Dawn's Vulkan backends. With ANGLE on SwiftShader GL (Chromium's
  // headless default) a WebGPU canvas cannot present: the GPU process finds no shared-image backing
  // for the WebGPU swap chain and every WebGPU device is lost ("A valid external Instance reference
  // no longer exists") within a frame, even for a ten-line JS page; WebGL2 runs either way.
  ...(process.env.HEADROOM_ANGLE_GL ? ['--use-angle=swiftshader'] : ['--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=vulkan']),
  '--enable-unsafe-webgpu',
];
let browser;
let failed = false;
const listen = (page) =>
  page.on('console', (m) => {
    const text = m.text();
    logs.push(text);
    if (/headroom|capture|facekat|panicked|error/i.test(text)) console.log(`  page: ${text.slice(0, 200)}`);
    for (const w of waiters.splice(0)) (text.includes(w.needle) ? w.done() : waiters.push(w));
    if (text.includes('headroom: load failed') || text.includes('panicked at')) {
      for (const w of waiters.splice(0)) w.fail(new Error(`the page failed: ${text.slice(0, 300)}`));
    }
  });
try {
  browser = await chromium.launch({ executablePath, headless: true, args: [...common, '--use-fake-ui-for-media-stream'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.grantPermissions(['camera'], { origin: `http://127.0.0.1:${port}` });
  const page = await context.newPage();
  listen(page);
  page.on('pageerror', (e) => console.log(`  page error: ${e}`));
  const t0 = Date.now();
  await page.goto(`http://127.0.0.1:${port}/?build=${build}`);
  await waitFor('headroom: menu shown', 300);
  const toMenu = (Date.now() - t0) / 1000;
  console.log(`menu shown ${toMenu.toFixed(1)} s after navigation (${build} build)`);
  await waitFor('capture: first frame', 120);
  const frame = logs.find((l) => l.includes('capture: first frame'));
  if (!frame.includes('camera')) throw new Error(`the first frame did not come from the (fake) camera: ${frame}`);
  console.log(`fake camera frames reach the app: ${frame.slice(frame.indexOf('capture:'))}`);
  await page.focus('#headroom');
  await page.keyboard.press('1');
  await sleep(3000);
  await page.keyboard.press('Space');
  await waitFor('facekat: playing', 120);
  console.log('FaceKat started');
  await sleep(4000);
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${path.relative(repo, shot)}`);
  // The demo gallery over HTTP (manifest + 8 JPEG atlases).
  await page.keyboard.press('Escape');
  await sleep(1000);
  await page.keyboard.press('2');
  const tg = Date.now();
  await waitFor('works from assets/gallery', 300);
  console.log(`gallery loaded over HTTP in ${((Date.now() - tg) / 1000).toFixed(1)} s: ${logs.find((l) => l.includes('works from')).match(/gallery: \d+ works/)[0]}`);
  await sleep(5000);
  if (build === 'webgpu') {
    // Compute shaders in the browser: the toolbar's "relayout live" button (top left, shown only
    // when the adapter can run compute) re-runs t-SNE on the GPU; positions come back by readback.
    await page.mouse.move(56, 102);
    await sleep(1500);
    await page.mouse.down();
    await sleep(1500);
    await page.mouse.up();
    await waitFor('live relayout started', 60);
    await waitFor('live relayout: first positions', 120);
    console.log(logs.find((l) => l.includes('first positions')).match(/gallery: live relayout[^%]*/)[0]);
    await sleep(8000);
  }
  await page.screenshot({ path: shot.replace(/\.png$/, '-gallery.png') });
  if (seen('panicked')) throw new Error('the app panicked (see the log above)');
  await browser.close();

  // A browser that refuses the camera: the demo clip plays instead, with a notice.
  logs.length = 0;
  browser = await chromium.launch({ executablePath, headless: true, args: [...common, '--deny-permission-prompts'] });
  const denied = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  listen(denied);
  await denied.goto(`http://127.0.0.1:${port}/?build=${build}`);
  await waitFor('showing the demo clip instead', 120);
  await waitFor('capture: first frame', 120);
  const demo = logs.find((l) => l.includes('capture: first frame'));
  if (!demo.includes('demo clip')) throw new Error(`after a refused camera the frames came from: ${demo}`);
  console.log('camera refused → the demo clip plays, with a notice');
  if (seen('panicked')) throw new Error('the app panicked (see the log above)');
  console.log(`PAGE TEST PASSED (load to menu ${toMenu.toFixed(1)} s)`);
} catch (e) {
  failed = true;
  console.error(`PAGE TEST FAILED: ${e.message}`);
} finally {
  if (browser) await browser.close();
  server.kill();
}
process.exit(failed ? 1 : 0);
