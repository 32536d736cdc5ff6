// The demo in a real browser (headless Chromium through puppeteer-core):
// util/demo starts it on the server port + 40 (nginx) and + 41 (the app),
// two pages chat in one room, one goes offline and comes back with what
// it missed, and the status page counts the connections.  Run by
// t/096-demo-browser.t; DEMO_SCREENSHOTS=DIR also writes the screenshots
// of docs/images there.

import test, { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)),
                         '../..');
const puppeteer = createRequire(path.join(top, 'build/npm/'))
                  ('puppeteer-core');

const base = Number(process.env.TEST_NGINX_SERVER_PORT
                    || process.env.TEST_NGINX_PORT || 1984);
// next to the server root, not in it (see clients/js/testlib/harness.js)
const root = path.resolve(top, (process.env.TEST_NGINX_SERVROOT
                                || 't/servroot') + '-node');
// the server port + 40 and + 41, or the next pair that is free: another
// program (on one CI machine, its init on 0.0.0.0:2024) may hold them
const ports = await freePair(base + 40);
const env = {
    ...process.env,
    DEMO_PORT: String(ports[0]),
    DEMO_APP_PORT: String(ports[1]),
    DEMO_PREFIX: path.join(root, 'demo')
};
const origin = `http://127.0.0.1:${env.DEMO_PORT}`;

async function free(port) {
    return new Promise((resolve) => {
        const srv = net.createServer();
        srv.once('error', () => resolve(false));
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
}

async function freePair(from) {
    for (let p = from; p < from + 200; p += 2) {
        if (await free(p) && await free(p + 1)) {
            return [p, p + 1];
        }
    }
    throw new Error(`no two free ports from ${from}`);
}
const room = 'r' + process.pid;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let browser;

before(async () => {
    execFileSync(path.join(top, 'util/demo'), ['start'],
                 { env, stdio: ['ignore', 'ignore', 'inherit'] });
    browser = await puppeteer.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        dumpio: !!process.env.DEMO_DUMPIO,
        // two pages at once: neither may be throttled as a background tab
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
               '--disable-background-timer-throttling',
               '--disable-backgrounding-occluded-windows',
               '--disable-renderer-backgrounding']
    });
});

after(async () => {
    if (browser) {
        await browser.close();
    }
    execFileSync(path.join(top, 'util/demo'), ['stop'],
                 { env, stdio: 'inherit' });
});

async function open(user, where = room) {
    const page = await browser.newPage();

    page.on('pageerror', (e) => { page.errors.push(String(e)); });
    page.errors = [];
    await page.setViewport({ width: 560, height: 460 });
    await page.goto(`${origin}/?room=${where}&user=${user}`);
    await page.waitForFunction(() => window.demo
                                     && window.demo.client.state === 'open');
    return page;
}

async function say(page, text) {
    await page.bringToFront();
    await page.type('#text', text);
    await page.click('#send');
}

const said = (page) => page.evaluate(() => window.demo.said);
const status = (page) => page.$eval('#status', (e) => e.textContent);
const status_ = (page) => page.evaluate(
    async () => (await fetch('/ws-status')).json());
const presence = (page) => page.$eval('#presence', (e) => e.textContent);

async function until(cond, what, ms = 5000) {
    const end = Date.now() + ms;

    while (!(await cond())) {
        if (Date.now() > end) {
            throw new Error('timed out waiting for ' + what);
        }
        await sleep(25);
    }
}

let alice, bob;

test('two pages in one room see each other and chat', { timeout: 60000 },
     async () => {
    alice = await open('alice');
    bob = await open('bob');

    await until(async () => (await presence(alice)) === '2 here: alice, bob',
                'alice sees bob arrive');
    assert.equal(await presence(bob), '2 here: alice, bob');
    assert.equal(await status(alice), 'online');

    await say(alice, 'hello bob');
    await until(async () => (await said(bob)).length === 1, 'bob hears');
    await say(bob, 'hi alice');
    await until(async () => (await said(alice)).length === 2, 'alice hears');

    const want = [{ id: 2, user: 'alice', text: 'hello bob' },
                  { id: 4, user: 'bob', text: 'hi alice' }];

    await until(async () => (await said(bob)).length === 2, 'bob sees his');
    // ids 1 and 3: the presence messages of alice's and bob's arrival
    assert.deepEqual((await said(alice)).map((m) => m.text),
                     want.map((m) => m.text));
    assert.deepEqual(await said(alice), await said(bob));
    assert.deepEqual((await said(alice)).map((m) => m.user),
                     ['alice', 'bob']);

    // the status page counts the two pages' connections and subscriptions
    const st = await status_(bob);

    assert.equal(st.total.connections, 2);
    assert.deepEqual(st.zones.map((z) => [z.name, z.subscribers]),
                     [['demo', 2]]);
    assert.ok(st.total.messages_in >= 2, 'the pages sent messages');

    const shown = await bob.$$eval('#log .msg', (els) => els.map((e) => [
        e.dataset.id, e.querySelector('b').textContent, e.lastChild.data]));

    assert.deepEqual(shown.map((s) => s.slice(1)),
                     [['alice', 'hello bob'], ['bob', 'hi alice']]);
    assert.equal(await bob.$eval('#text', (e) => e.value), '', 'sent');
});

test('a page that goes offline gets what it missed, once',
     { timeout: 60000 },
     async () => {
    const before = (await said(alice)).length;

    await alice.setOfflineMode(true);
    // the client drops its socket and waits for the network
    await until(async () => (await status(alice)) === 'no network: waiting',
                'alice waits for the network');
    await until(async () => (await presence(bob)) === '1 here: bob',
                'bob sees alice leave');

    await until(async () => (await status_(bob)).total.connections === 1,
                'the status page sees one connection left');

    for (const text of ['are you there?', 'one', 'two']) {
        await say(bob, text);
    }
    await until(async () => (await said(bob)).length === before + 3,
                'bob sends 3');
    await sleep(1200);                      // alice makes no attempt
    assert.equal((await said(alice)).length, before);
    assert.equal(await status(alice), 'no network: waiting');

    await alice.setOfflineMode(false);
    await until(async () => (await status(alice)) === 'online',
                'alice is back', 15000);
    await until(async () => (await said(alice)).length === before + 3,
                'alice catches up');
    await until(async () => (await presence(alice)) === '2 here: alice, bob',
                'presence after the return');
    await sleep(200);

    const a = await said(alice);
    const ids = a.map((m) => m.id);

    assert.deepEqual(a, await said(bob));
    assert.equal(new Set(ids).size, ids.length, 'no duplicates');
    assert.deepEqual(a.slice(-3).map((m) => m.text),
                     ['are you there?', 'one', 'two']);
    assert.deepEqual(await alice.$$eval('#log .gap',
                                        (els) => els.map((e) => e.textContent)),
                     [],
                     'no gap');
    assert.equal(await alice.$$eval('#log .msg', (els) => els.length),
                 a.length, 'each message shown once');
    assert.match(await alice.evaluate(() => window.demo.client.socket.url),
                 /&last_id=\d+$/);
});

test('a page that sends while offline sends when back', { timeout: 60000 },
     async () => {
    await alice.setOfflineMode(true);
    await until(async () => (await status(alice)) === 'no network: waiting',
                'alice waits for the network');
    await say(alice, 'sorry, I was away');
    assert.equal(await alice.$eval('#text', (e) => e.value), '', 'queued');
    assert.deepEqual(await alice.evaluate(() => window.demo.client.queued),
                     { messages: 1, bytes: JSON.stringify({
                         type: 'say', text: 'sorry, I was away' }).length });
    await alice.setOfflineMode(false);
    await until(async () => (await said(bob)).at(-1).text
                            === 'sorry, I was away', 'bob hears it', 15000);
    assert.deepEqual(await said(alice), await said(bob));
    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
});

test('screenshots: two pages chatting', { timeout: 60000 },
     async () => {
    const dir = process.env.DEMO_SCREENSHOTS
                || path.join(root, 'screenshots');
    const page = await browser.newPage();

    fs.mkdirSync(dir, { recursive: true });
    await page.setViewport({ width: 1000, height: 420 });
    await page.setContent(`<!doctype html><body style="margin:0;display:flex">
        <iframe style="border:0;border-right:1px solid #ccc;width:50%;height:420px"
                src="${origin}/?room=lobby&user=alice"></iframe>
        <iframe style="border:0;width:50%;height:420px"
                src="${origin}/?room=lobby&user=bob"></iframe>`);

    const frames = () => page.frames().filter((f) => f !== page.mainFrame());

    await until(async () => frames().length === 2
                && (await Promise.all(frames().map((f) => f.evaluate(
                    () => window.demo && window.demo.client.state
                          === 'open')))).every(Boolean), 'the two chats');

    const [a, b] = frames().sort((x, y) => x.url() < y.url() ? -1 : 1);
    const lines = [[a, 'Hi Bob! Is the deploy done?'],
                   [b, 'Yes: nginx reloaded and we both reconnected.'],
                   [a, 'And what was said in between?'],
                   [b, 'Replayed from the last id we had. Nothing lost.']];

    for (const [f, text] of lines) {
        await f.type('#text', text);
        await f.click('#send');
        await sleep(150);
    }

    await until(async () => (await b.evaluate(() => window.demo.said.length))
                === 4, 'the conversation');
    await page.evaluate(() => document.activeElement.blur());

    const file = path.join(dir, 'demo-chat.png');

    await page.screenshot({ path: file });
    assert.ok(fs.statSync(file).size > 10000, 'a screenshot with content');
    await page.close();
});
