// A viem client against a running histd: `node viem.mjs EXPECT.json`.
//
// Calls every method histd serves through viem's own actions (raw `request` only where viem has no
// action), checks the answers against what the test wrote into EXPECT.json (taken from the testnet
// chain), pages `eth_getLogs` through the -32005 hint as Ponder does (catch the error, read the range
// from its message), installs filters (`createEventFilter`, `createBlockFilter`, `watchEvent` polling
// over HTTP) and WebSocket subscriptions (`watchBlockHeaders`, `watchEvent`), prints `{"ready":true}`,
// and then follows the chain while the test reorgs it until it has seen the new head and the
// expected number of removed and added logs. Its last stdout line is one JSON object of results;
// the Rust test (tests/it/rpc/clients.rs) asserts on it. Exits 0 unless it could not run at all.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createPublicClient, http, webSocket } from 'viem';

const expect = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const viemVersion = createRequire(import.meta.url)('viem/package.json').version;
const failures = [];
const calls = new Set();

const check = (what, got, want) => {
  const g = typeof got === 'bigint' ? got.toString() : JSON.stringify(got);
  const w = typeof want === 'bigint' ? want.toString() : JSON.stringify(want);
  if (g !== w) failures.push(`${what}: got ${g}, want ${w}`);
};
const hex = (n) => `0x${BigInt(n).toString(16)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// What the test compares: where a log is and whether it is a removed copy.
const logKey = (l) => ({
  blockHash: l.blockHash,
  blockNumber: Number(l.blockNumber),
  logIndex: Number(l.logIndex),
  removed: l.removed === true,
});

// retryCount 0: a -32005 answer is the pagination signal, not a failure to retry (Ponder does this).
const client = createPublicClient({
  transport: http(expect.http, { retryCount: 0 }),
  pollingInterval: 200,
});
const request = (method, params = []) => {
  calls.add(method);
  return client.request({ method, params });
};
const step = async (method, f) => {
  calls.add(method);
  try {
    return await f();
  } catch (e) {
    failures.push(`${method}: ${e.shortMessage ?? e.message}`);
    return undefined;
  }
};

// --- Plain methods ---------------------------------------------------------------------------
check('eth_chainId', await step('eth_chainId', () => client.getChainId()), expect.chainId);
check('net_version', await step('net_version', () => request('net_version')), String(expect.chainId));
// viem has no action for it: a raw request.
check('net_listening', await step('net_listening', () => request('net_listening')), true);
const version = await step('web3_clientVersion', () => request('web3_clientVersion'));
if (!String(version).startsWith('histd/')) failures.push(`web3_clientVersion: ${version}`);
check('eth_blockNumber', await step('eth_blockNumber', () => client.getBlockNumber({ cacheTime: 0 })), BigInt(expect.head.number));
check('eth_syncing', await step('eth_syncing', () => request('eth_syncing')), false);

const b = expect.block;
const byNumber = await step('eth_getBlockByNumber', () =>
  client.getBlock({ blockNumber: BigInt(b.number), includeTransactions: true }),
);
check('getBlock(number).hash', byNumber?.hash, b.hash);
check('getBlock(number).transactions', byNumber?.transactions.map((t) => t.hash), b.txHashes);
check('getBlock(number).tx[i].from', byNumber?.transactions[expect.tx.index]?.from, expect.tx.from);
const latest = await step('eth_getBlockByNumber', () => client.getBlock({ blockTag: 'latest' }));
check('getBlock(latest).hash', latest?.hash, expect.head.hash);
const earliest = await step('eth_getBlockByNumber', () => client.getBlock({ blockTag: 'earliest' }));
check('getBlock(earliest).number', Number(earliest?.number), expect.earliest);
for (const tag of ['safe', 'finalized']) {
  const block = await step('eth_getBlockByNumber', () => client.getBlock({ blockTag: tag }));
  check(`getBlock(${tag}).number`, Number(block?.number), expect.safe);
}
const pending = await step('eth_getBlockByNumber', () => client.getBlock({ blockTag: 'pending' }));
check('getBlock(pending).hash', pending?.hash, expect.head.hash);
// Every block whole, through viem's formatters (every transaction type of the mainnet templates,
// blob fields included): transactions and receipts agree with each other and with the chain.
for (const want of expect.blocks) {
  const [block, rs] = await Promise.all([
    step('eth_getBlockByNumber', () => client.getBlock({ blockNumber: BigInt(want.number), includeTransactions: true })),
    step('eth_getBlockReceipts', () => client.getBlockReceipts({ blockNumber: BigInt(want.number) })),
  ]);
  if (!block || !rs) continue;
  check(`block ${want.number} hash`, block.hash, want.hash);
  check(`block ${want.number} transactions`, block.transactions.length, want.txCount);
  check(`block ${want.number} receipts`, rs.length, want.txCount);
  check(`block ${want.number} logs`, rs.reduce((n, r) => n + r.logs.length, 0), want.logCount);
  const mismatch = block.transactions.findIndex(
    (tx, i) => rs[i]?.transactionHash !== tx.hash || rs[i]?.from !== tx.from || rs[i]?.blockHash !== want.hash,
  );
  if (mismatch >= 0) failures.push(`block ${want.number}: receipt ${mismatch} does not match its transaction`);
}
// A JSON-RPC batch: viem's http transport sends concurrent calls as one.
const batched = createPublicClient({ transport: http(expect.http, { batch: true, retryCount: 0 }) });
const [n, id, h] = await step('batch', () =>
  Promise.all([
    batched.getBlockNumber({ cacheTime: 0 }),
    batched.getChainId(),
    batched.getBlock({ blockNumber: BigInt(b.number) }),
  ]),
) ?? [];
check('batch', [Number(n), id, h?.hash], [expect.head.number, expect.chainId, b.hash]);
const byHash = await step('eth_getBlockByHash', () => client.getBlock({ blockHash: b.hash }));
check('getBlock(hash).number', byHash?.number, BigInt(b.number));
check('getBlock(hash).transactions', byHash?.transactions, b.txHashes);
check('getBlock(missing hash)', await step('eth_getBlockByHash', () =>
  request('eth_getBlockByHash', [`0x${'ee'.repeat(32)}`, false])), null);
check('getBlockTransactionCount(number)', await step('eth_getBlockTransactionCountByNumber', () =>
  client.getBlockTransactionCount({ blockNumber: BigInt(b.number) })), b.txHashes.length);
check('getBlockTransactionCount(hash)', await step('eth_getBlockTransactionCountByHash', () =>
  client.getBlockTransactionCount({ blockHash: b.hash })), b.txHashes.length);

const t = expect.tx;
for (const [method, args] of [
  ['eth_getTransactionByHash', { hash: t.hash }],
  ['eth_getTransactionByBlockNumberAndIndex', { blockNumber: BigInt(b.number), index: t.index }],
  ['eth_getTransactionByBlockHashAndIndex', { blockHash: b.hash, index: t.index }],
]) {
  const tx = await step(method, () => client.getTransaction(args));
  check(`${method}.hash`, tx?.hash, t.hash);
  check(`${method}.from`, tx?.from, t.from);
  check(`${method}.blockHash`, tx?.blockHash, b.hash);
  check(`${method}.transactionIndex`, tx?.transactionIndex, t.index);
}
const receipt = await step('eth_getTransactionReceipt', () => client.getTransactionReceipt({ hash: t.hash }));
check('receipt.transactionHash', receipt?.transactionHash, t.hash);
check('receipt.from', receipt?.from, t.from);
check('receipt.logs', receipt?.logs.length, t.logCount);
const receipts = await step('eth_getBlockReceipts', () => client.getBlockReceipts({ blockNumber: BigInt(b.number) }));
check('getBlockReceipts.length', receipts?.length, b.txHashes.length);
check('getBlockReceipts.logs', receipts?.reduce((n, r) => n + r.logs.length, 0), b.logCount);
check('getBlockReceipts[i] = receipt', receipts?.[t.index]?.transactionHash, t.hash);

// --- eth_getLogs ------------------------------------------------------------------------------
const inBlock = await step('eth_getLogs', () => client.getLogs({ blockHash: b.hash }));
check('getLogs(blockHash).length', inBlock?.length, b.logCount);
check('getLogs(blockHash).logIndex', inBlock?.map((l) => l.logIndex), [...Array(b.logCount).keys()]);
const byTopic = await step('eth_getLogs', () =>
  request('eth_getLogs', [{ fromBlock: hex(b.number), toBlock: hex(b.number), topics: [[b.topic0]] }]),
);
check('getLogs(topic0).length', byTopic?.length, b.topic0Count);
const watched = await step('eth_getLogs', () =>
  client.getLogs({ address: expect.watch.addresses, fromBlock: BigInt(b.number), toBlock: BigInt(b.number) }),
);
check('getLogs(address list).length', watched?.length, b.watchCount);

// Pagination as Ponder does it: ask for the whole range; on -32005 take the range from the message
// and go on from its end.
const RANGE_HINT = /Try with this block range \[0x([0-9a-fA-F]+),\s?0x([0-9a-fA-F]+)\]/;
const pages = [];
const perBlock = {};
let hints = 0;
let prev = null;
for (let from = expect.paginate.from; from <= expect.paginate.to && failures.length < 50;) {
  let to = expect.paginate.to;
  let logs;
  for (;;) {
    try {
      calls.add('eth_getLogs');
      logs = await client.getLogs({ fromBlock: BigInt(from), toBlock: BigInt(to) });
      break;
    } catch (e) {
      const limit = e.walk?.((x) => x.code === -32005);
      const m = limit && RANGE_HINT.exec(limit.details ?? limit.message);
      if (!m) {
        failures.push(`getLogs [${from}, ${to}]: ${e.shortMessage ?? e.message}`);
        break;
      }
      hints += 1;
      const [hintFrom, hintTo] = [parseInt(m[1], 16), parseInt(m[2], 16)];
      const data = limit.cause?.data ?? limit.data;
      check('hint data', [data?.from, data?.to, data?.limit], [hex(hintFrom), hex(hintTo), expect.maxLogs]);
      if (hintFrom !== from || hintTo >= to) {
        failures.push(`hint [${hintFrom}, ${hintTo}] for [${from}, ${to}] does not shrink the range`);
        break;
      }
      to = hintTo;
    }
  }
  if (!logs) break;
  pages.push({ from, to, count: logs.length });
  for (const l of logs) {
    const n = Number(l.blockNumber);
    const key = [n, l.logIndex];
    if (n < from || n > to) failures.push(`page [${from}, ${to}] holds a log of block ${n}`);
    if (prev && (key[0] < prev[0] || (key[0] === prev[0] && key[1] !== prev[1] + 1))) {
      failures.push(`log ${key} after ${prev}: out of order or a gap`);
    }
    if (!prev || key[0] !== prev[0]) {
      if (key[1] !== 0) failures.push(`block ${n} starts at logIndex ${key[1]}`);
    }
    perBlock[n] = (perBlock[n] ?? 0) + 1;
    prev = key;
  }
  from = to + 1;
}

// --- Filters over HTTP -------------------------------------------------------------------------
const ranged = await step('eth_newFilter', () =>
  client.createEventFilter({ address: expect.watch.addresses, fromBlock: BigInt(b.number), toBlock: BigInt(b.number) }),
);
const filterLogs = ranged && (await step('eth_getFilterLogs', () => client.getFilterLogs({ filter: ranged })));
check('getFilterLogs.length', filterLogs?.length, b.watchCount);
check('uninstallFilter', ranged && (await step('eth_uninstallFilter', () => client.uninstallFilter({ filter: ranged }))), true);
check('uninstallFilter again', ranged && (await step('eth_uninstallFilter', () => client.uninstallFilter({ filter: ranged }))), false);
const logFilter = await step('eth_newFilter', () => client.createEventFilter({ address: expect.watch.addresses }));
const blockFilter = await step('eth_newBlockFilter', () => client.createBlockFilter());
check('getFilterChanges before the reorg', logFilter && (await step('eth_getFilterChanges', () =>
  client.getFilterChanges({ filter: logFilter }))), []);

// --- State methods: -32601 ----------------------------------------------------------------------
let stateError = null;
try {
  calls.add('eth_getBalance');
  await client.getBalance({ address: expect.watch.addresses[0] });
  failures.push('eth_getBalance answered');
} catch (e) {
  const rpc = e.walk((x) => typeof x.code === 'number');
  stateError = { code: rpc?.code, message: rpc?.details };
}

// --- Watching through the reorg -----------------------------------------------------------------
const seen = { wsHeads: [], wsLogs: [], watchEvent: [], filterLogs: [], filterBlocks: [] };
const watchErrors = [];
const onError = (what) => (e) => watchErrors.push(`${what}: ${e.shortMessage ?? e.message}`);
const unwatchHttp = client.watchEvent({
  address: expect.watch.addresses,
  poll: true,
  pollingInterval: 200,
  onLogs: (logs) => seen.watchEvent.push(...logs.map(logKey)),
  onError: onError('watchEvent (HTTP)'),
});

const wsClient = createPublicClient({ transport: webSocket(expect.ws, { retryCount: 0 }) });
calls.add('eth_subscribe');
const unwatchHeads = wsClient.watchBlockHeaders({
  onBlockHeader: (h) => seen.wsHeads.push({ number: Number(h.number), hash: h.hash }),
  onError: onError('watchBlockHeaders (WebSocket)'),
});
const unwatchLogs = wsClient.watchEvent({
  address: expect.watch.addresses,
  onLogs: (logs) => seen.wsLogs.push(...logs.map(logKey)),
  onError: onError('watchEvent (WebSocket)'),
});
// The subscriptions are made asynchronously, and watchEvent installs its HTTP filter on its first
// poll: wait until both are in place (a subscription answers once made).
const socket = await wsClient.transport.getRpcClient();
for (let i = 0; i < 100 && socket.subscriptions.size < 2; i++) await sleep(50);
if (socket.subscriptions.size < 2) failures.push(`only ${socket.subscriptions.size} WebSocket subscriptions made`);
await sleep(600);
console.log(JSON.stringify({ ready: true }));

const r = expect.reorg;
const done = () =>
  seen.wsHeads.some((h) => h.hash === r.newHeadHash) &&
  seen.wsLogs.filter((l) => l.removed).length >= r.removed &&
  seen.wsLogs.filter((l) => !l.removed).length >= r.added &&
  seen.filterLogs.length >= r.removed + r.added &&
  seen.filterBlocks.includes(r.newHeadHash) &&
  seen.watchEvent.length >= r.removed + r.added;
const deadline = Date.now() + r.timeoutMs;
while (!done() && Date.now() < deadline) {
  if (logFilter) {
    const logs = await step('eth_getFilterChanges', () => client.getFilterChanges({ filter: logFilter }));
    seen.filterLogs.push(...(logs ?? []).map(logKey));
  }
  if (blockFilter) {
    const hashes = await step('eth_getFilterChanges', () => client.getFilterChanges({ filter: blockFilter }));
    seen.filterBlocks.push(...(hashes ?? []));
  }
  await sleep(200);
}
if (!done()) failures.push('timed out waiting for the reorg to be seen');
unwatchHttp();
unwatchHeads();
unwatchLogs();
calls.add('eth_unsubscribe');
await sleep(100);
for (const id of socket.subscriptions.keys()) failures.push(`subscription ${id} still open after unwatch`);
if (logFilter) await step('eth_uninstallFilter', () => client.uninstallFilter({ filter: logFilter }));
if (blockFilter) await step('eth_uninstallFilter', () => client.uninstallFilter({ filter: blockFilter }));
socket.close();

// Written with a callback before exiting: process.exit() would drop a pipe write still pending.
process.stdout.write(
  `${JSON.stringify({
    client: `viem ${viemVersion}`,
    failures: [...failures, ...watchErrors],
    calls: [...calls].sort(),
    hints,
    pages,
    perBlock,
    stateError,
    seen,
  })}\n`,
  () => process.exit(0),
);
