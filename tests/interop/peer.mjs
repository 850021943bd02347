// An eth/68 and eth/69 peer built on @ethereumjs/devp2p: the implementation nobody on the histd team
// wrote (eth/69 is our layer on its Protocol plug-in, eth69.mjs; discv4 is its DPT, dpt.mjs).
// histd's interop tests (tests/it/interop/) drive it; it can also be run by hand.
//
//   node peer.mjs serve  --chain DIR [--hardfork NAME] [--tamper body|receipts] [--stale-fork-id 1]
//                        [--ping-after-status 1]   serve the blocks in DIR (one block altered
//                                                  with --tamper: a lying peer; a fork id without
//                                                  its next fork with --stale-fork-id; a Ping
//                                                  right after Status with --ping-after-status)
//                        [--late-head 1]           eth/69: Status announces the block before the
//                                                  head as latest, a BlockRangeUpdate the head
//   node peer.mjs client ENODE --from N --count C  fetch blocks N..N+C-1 from ENODE and print them
//   node peer.mjs client ENODE --hashes H1,H2,...  fetch these blocks (any numbers) and print them
//                        [--await-range-update 1]  eth/69: before exiting, wait for (and print) a
//                                                  BlockRangeUpdate from the peer
//   node peer.mjs dump   --chain DIR               print the wire bytes `serve` sends for DIR
//   node peer.mjs dpt    ...                       a discv4 node (ethereumjs DPT): see dpt.mjs
//
// Every mode takes --eth 68 (the default: eth/68 only, as @ethereumjs/devp2p ships) or --eth 69
// (eth/69 offered next to eth/68; the peer picks the highest both sides have). With eth/69,
// receipts go out in the eth/69 form and Status carries the served block range.
//
// Output: one JSON object per line on stdout, nothing else (diagnostics go to stderr).
//   serve:  {"event":"listening","enode":...,"status":{...}} first, then "status", "served", "ping",
//           "pong", "block_range_update", "peer_error", "peer_removed" events as they happen. Runs until stdin closes or
//           SIGTERM.
//   client: {"event":"status",...}, then one {"event":"item","req":...,"index":...,"rlp":...} line
//           per header / body / receipt list received (hex RLP exactly as re-encoded from the
//           wire), then {"event":"done"}; exit code 0. On any failure {"event":"error",...} and
//           exit code 1.
//   dump:   one {"event":"block","number","hash","header","body","receipts","receipts69"} line per
//           block (eth/68 and eth/69 receipt lists).
//
// DIR holds the Portal JSON of shared/testdata/mainnet/frontier (header RLP, SSZ-wrapped body and
// receipts) or the block-data YAML of shared/testdata/mainnet/blocks (eth/69 receipts, converted
// here to eth/68 with their blooms). Both are decoded here, in JS, so that what this peer serves
// does not depend on histd's own encoders.
//
// Status: mainnet (network id 1), mainnet genesis hash, and the fork id @ethereumjs/common gives
// for `--hardfork` (default chainstart: the frontier blocks 1000001..1000030 are before Homestead;
// use prague for mainnet/blocks). For chainstart it is cross-checked against an independent
// EIP-2124 computation (CRC32 of the genesis hash, next = 1150000).

import { crc32 } from 'node:zlib';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { Common, Hardfork, Mainnet } from '@ethereumjs/common';
import { DISCONNECT_REASON, DisconnectReasonNames, ETH, RLPx, genPrivateKey } from '@ethereumjs/devp2p';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToBytes, bytesToBigInt, bytesToHex, bytesToInt, concatBytes, equalsBytes, hexToBytes } from '@ethereumjs/util';
import { keccak256 } from 'ethereum-cryptography/keccak.js';

import { Eth69, describeRange, eth68ToEth69 } from './eth69.mjs';
import { dpt } from './dpt.mjs';

const MAINNET_GENESIS_HASH = hexToBytes('0xd4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3');
// Difficulty of the mainnet genesis block, the total difficulty of a node that has only genesis.
const GENESIS_TD = 17179869184n;
const HOMESTEAD_BLOCK = 1150000n;
// Serving limits, like geth's (maxHeadersServe 1024, maxBodiesServe/maxReceiptsServe 1024).
const MAX_SERVE = 1024;
const REQUEST_TIMEOUT_MS = 10000;

const { GET_BLOCK_HEADERS, BLOCK_HEADERS, GET_BLOCK_BODIES, BLOCK_BODIES, GET_RECEIPTS, RECEIPTS } =
  {
    GET_BLOCK_HEADERS: 0x03,
    BLOCK_HEADERS: 0x04,
    GET_BLOCK_BODIES: 0x05,
    BLOCK_BODIES: 0x06,
    GET_RECEIPTS: 0x0f,
    RECEIPTS: 0x10,
  };

function out(obj) {
  process.stdout.write(
    JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n',
  );
}

// RLP integers are big-endian without leading zeros, and zero is the empty string. (intToBytes(0)
// gives a single 0x00 byte, which strict decoders such as geth's and histd's reject.)
function uint(n) {
  const v = BigInt(n);
  return v === 0n ? new Uint8Array() : bigIntToBytes(v);
}

function fail(msg) {
  out({ event: 'error', error: String(msg) });
  process.exit(1);
}

// ---------------------------------------------------------------- chain data (Portal SSZ -> RLP)

function u32le(b, at) {
  if (at + 4 > b.length) throw new Error(`SSZ offset at ${at} beyond ${b.length} bytes`);
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | ((b[at + 3] << 24) >>> 0);
}

// SSZ container of `n` variable-size fields: n little-endian u32 offsets, then the data.
function sszFields(b, n) {
  const offs = [];
  for (let i = 0; i < n; i++) offs.push(u32le(b, 4 * i));
  offs.push(b.length);
  for (let i = 0; i < n; i++) {
    if (offs[i] > offs[i + 1]) throw new Error('SSZ offsets not ascending');
  }
  return offs.slice(0, n).map((o, i) => b.subarray(o, offs[i + 1]));
}

// SSZ List[ByteList]: the first offset tells how many elements there are.
function sszByteListList(b) {
  if (b.length === 0) return [];
  const first = u32le(b, 0);
  if (first % 4 !== 0) throw new Error('SSZ list: first offset not a multiple of 4');
  return sszFields(b, first / 4);
}

// PortalBlockBodyLegacy(txs, uncles) or PortalBlockBodyShanghai(txs, uncles, withdrawals).
function portalBody(b) {
  const n = u32le(b, 0) / 4;
  if (n !== 2 && n !== 3) throw new Error(`Portal body with ${n} fields`);
  const f = sszFields(b, n);
  return {
    txs: sszByteListList(f[0]),
    ommersRlp: f[1],
    withdrawals: n === 3 ? sszByteListList(f[2]) : null,
  };
}

// A typed (EIP-2718) tx or receipt travels as an RLP string holding `type || payload`; a legacy one
// is the RLP list itself. Returns the value to put inside an RLP list.
function wireItem(bytes) {
  return bytes[0] >= 0xc0 ? RLP.decode(bytes) : bytes;
}

// logsBloom of a receipt's logs (yellow paper 4.4.1): for the address and each topic, three bits
// chosen by the first three 16-bit pairs of its keccak256, mod 2048.
function bloomOf(logs) {
  const bloom = new Uint8Array(256);
  const add = (bytes) => {
    const h = keccak256(bytes);
    for (let i = 0; i < 6; i += 2) {
      const bit = ((h[i] << 8) | h[i + 1]) & 2047;
      bloom[255 - (bit >> 3)] |= 1 << (bit & 7);
    }
  };
  for (const [address, topics] of logs) {
    add(address);
    for (const t of topics) add(t);
  }
  return bloom;
}

// eth/69 receipt `[tx-type, status, cumulative-gas, logs]` (EIP-7642) to its eth/68 list item: the
// consensus encoding `[status, cumulative-gas, bloom, logs]`, typed ones as `type || rlp(...)`.
function eth69ToEth68(r) {
  const [type, status, gas, logs] = r;
  const fields = [status, gas, bloomOf(logs), logs];
  const t = bytesToInt(type);
  return t === 0 ? fields : concatBytes(Uint8Array.of(t), RLP.encode(fields));
}

// `receipts` is the eth/68 list (consensus receipts), `receipts69` the eth/69 one.
function block(headerRlp, wireBody, receipts, receipts69, what) {
  const header = RLP.decode(headerRlp);
  return { number: bytesToBigInt(header[8]), hash: keccak256(headerRlp), header, wireBody, receipts, receipts69, what };
}

// Portal JSON (shared/testdata/mainnet/frontier): keyed by block hash; SSZ body and receipts.
function loadPortalJson(path) {
  const blocks = [];
  for (const [key, v] of Object.entries(JSON.parse(readFileSync(path, 'utf8')))) {
    const body = portalBody(hexToBytes(v.body));
    const wireBody = [body.txs.map(wireItem), RLP.decode(body.ommersRlp)];
    if (body.withdrawals !== null) wireBody.push(body.withdrawals.map((w) => RLP.decode(w)));
    const receipts = sszByteListList(hexToBytes(v.receipts)).map(wireItem);
    const receipts69 = receipts.map((r) => eth68ToEth69(r, bloomOf));
    const b = block(hexToBytes(v.header), wireBody, receipts, receipts69, `${path} ${key}`);
    if (bytesToHex(b.hash) !== key.toLowerCase()) throw new Error(`${b.what}: header hashes to ${bytesToHex(b.hash)}`);
    blocks.push(b);
  }
  return blocks;
}

// block-data YAML (shared/testdata/mainnet/blocks): `header`, eth-wire `body`, eth/69 `receipts`.
function loadBlockYaml(path) {
  const fields = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(header|body|receipts):\s*(0x[0-9a-fA-F]*)\s*$/.exec(line);
    if (m) fields[m[1]] = hexToBytes(m[2]);
  }
  for (const k of ['header', 'body', 'receipts']) if (!fields[k]) throw new Error(`${path}: no ${k}`);
  const receipts69 = RLP.decode(fields.receipts);
  return [block(fields.header, RLP.decode(fields.body), receipts69.map(eth69ToEth68), receipts69, path)];
}

function loadChain(dir) {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') || f.endsWith('.yaml'))
    .sort();
  if (files.length === 0) throw new Error(`no *.json or *.yaml block files in ${dir}`);
  const blocks = files.flatMap((f) => (f.endsWith('.json') ? loadPortalJson(join(dir, f)) : loadBlockYaml(join(dir, f))));
  blocks.sort((a, b) => (a.number < b.number ? -1 : 1));
  // Not every directory is one chain (mainnet/blocks has gaps), but consecutive blocks must link.
  for (let i = 1; i < blocks.length; i++) {
    const [p, c] = [blocks[i - 1], blocks[i]];
    if (c.number === p.number) throw new Error(`block ${c.number} twice`);
    if (c.number === p.number + 1n && !equalsBytes(c.header[0], p.hash)) {
      throw new Error(`${c.what}: parent hash does not link to block ${p.number}`);
    }
  }
  const byNumber = new Map(blocks.map((b) => [b.number, b]));
  const byHash = new Map(blocks.map((b) => [bytesToHex(b.hash), b]));
  return { blocks, byNumber, byHash, head: blocks[blocks.length - 1] };
}

// ---------------------------------------------------------------- status and fork id

function mainnetCommon(hardfork = Hardfork.Chainstart) {
  return new Common({ chain: Mainnet, hardfork });
}

// The fork id ethereumjs announces: @ethereumjs/common's, for the hardfork of our head. For a head
// before Homestead (the frontier chain) it is cross-checked against an independent EIP-2124
// computation: the fork hash is CRC32(genesis hash), the next fork 1150000.
function forkIdOf(common) {
  const hf = common.hardfork();
  const hash = common.forkHash(hf);
  const next = common.nextHardforkBlockOrTimestamp(hf) ?? 0n;
  if (hf === Hardfork.Chainstart) {
    const crc = `0x${(crc32(MAINNET_GENESIS_HASH) >>> 0).toString(16).padStart(8, '0')}`;
    if (crc !== hash) throw new Error(`fork hash: CRC32 gives ${crc}, @ethereumjs/common ${hash}`);
    if (next !== HOMESTEAD_BLOCK) throw new Error(`next fork after Chainstart is ${next}, not ${HOMESTEAD_BLOCK}`);
  }
  return [hash, next];
}

function describeStatus(s) {
  if (s.range !== undefined) {
    // eth/69: no total difficulty or best hash; the served range instead.
    return {
      networkId: bytesToBigInt(s.chainId),
      genesisHash: bytesToHex(s.genesisHash),
      forkId: [bytesToHex(s.forkId[0]), bytesToBigInt(s.forkId[1])],
      ...describeRange(s.range),
    };
  }
  return {
    networkId: bytesToBigInt(s.chainId),
    td: bytesToBigInt(s.td),
    bestHash: bytesToHex(s.bestHash),
    genesisHash: bytesToHex(s.genesisHash),
    forkId: s.forkId ? [bytesToHex(s.forkId[0]), bytesToBigInt(s.forkId[1])] : null,
  };
}

// The capabilities to offer for `--eth`: eth/68 alone (what @ethereumjs/devp2p ships), or our
// eth/69 layer with eth/68 next to it, as real clients offer several versions.
function capabilities(args) {
  const eth = args.eth ?? '68';
  if (eth === '68') return [ETH.eth68];
  if (eth === '69') return [Eth69.eth69, ETH.eth68];
  throw new Error(`--eth ${eth}: expected 68 or 69`);
}

function ethOf(peer) {
  return peer.getProtocols().find((p) => p instanceof ETH || p instanceof Eth69);
}

function receiptsFor(eth, b) {
  return eth instanceof Eth69 ? b.receipts69 : b.receipts;
}

function enodeOf(rlpx, port) {
  return `enode://${bytesToHex(rlpx.id).slice(2)}@127.0.0.1:${port}`;
}

function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@([^:]+):(\d+)/.exec(url);
  if (!m) throw new Error(`not an enode URL: ${url}`);
  return { id: hexToBytes(`0x${m[1]}`), address: m[2], tcpPort: Number(m[3]) };
}

function watchPeers(rlpx) {
  rlpx.events.on('peer:error', (_peer, err) => {
    out({ event: 'peer_error', error: String(err?.message ?? err) });
  });
  rlpx.events.on('peer:removed', (_peer, reason, disconnectWe) => {
    out({
      event: 'peer_removed',
      reason: DisconnectReasonNames[reason] ?? String(reason),
      by_us: disconnectWe === true,
    });
  });
  rlpx.events.on('error', (err) => out({ event: 'rlpx_error', error: String(err?.message ?? err) }));
}

// ---------------------------------------------------------------- serve

function selectHeaders(chain, origin, amount, skip, reverse) {
  let start;
  if (origin.length === 32) start = chain.byHash.get(bytesToHex(origin));
  else start = chain.byNumber.get(bytesToBigInt(origin));
  const headers = [];
  if (start === undefined) return headers;
  const step = BigInt(skip) + 1n;
  let n = start.number;
  for (let i = 0; i < Math.min(amount, MAX_SERVE); i++) {
    const b = chain.byNumber.get(n);
    if (b === undefined) break;
    headers.push(b.header);
    n = reverse ? n - step : n + step;
    if (n < 0n) break;
  }
  return headers;
}

// A lying peer, for tests of what histd does with bad data: changes one block after loading (hashes
// and indexes stay those of the real chain, so the peer still answers requests for it).
//   body:     block 1000010's first two transactions swapped
//   receipts: block 1000010's first receipt's cumulative gas + 1
function tamper(chain, what) {
  const b = chain.byNumber.get(1000010n);
  if (b === undefined) throw new Error('--tamper needs the frontier chain (block 1000010)');
  if (what === 'body') {
    const txs = b.wireBody[0];
    if (txs.length < 2) throw new Error('block 1000010 has fewer than 2 transactions');
    b.wireBody = [[txs[1], txs[0], ...txs.slice(2)], ...b.wireBody.slice(1)];
  } else if (what === 'receipts') {
    const r = b.receipts[0];
    if (!Array.isArray(r)) throw new Error('block 1000010 receipt 0 is not a legacy receipt');
    b.receipts = [[r[0], uint(bytesToBigInt(r[1]) + 1n), ...r.slice(2)], ...b.receipts.slice(1)];
    const r69 = b.receipts69[0];
    b.receipts69 = [[r69[0], r69[1], uint(bytesToBigInt(r69[2]) + 1n), r69[3]], ...b.receipts69.slice(1)];
  } else {
    throw new Error(`--tamper ${what}: expected body or receipts`);
  }
}

function serve(args) {
  const dir = args.chain;
  if (!dir) throw new Error('serve needs --chain DIR');
  const chain = loadChain(dir);
  if (args.tamper) tamper(chain, args.tamper);
  const common = mainnetCommon(args.hardfork ?? Hardfork.Chainstart);
  const forkId = forkIdOf(common);
  const headDifficulty = bytesToBigInt(chain.head.header[7]);
  const rlpx = new RLPx(genPrivateKey(), {
    capabilities: capabilities(args),
    common,
    maxPeers: 25,
  });
  // What an eth/69 Status announces: the blocks served, with --late-head one block short of the
  // head (a BlockRangeUpdate to the head follows Status).
  const served = { earliest: chain.blocks[0].number, latest: chain.head.number, latestHash: chain.head.hash };
  const announced =
    args['late-head'] !== undefined && chain.blocks.length > 1
      ? { ...served, latest: chain.blocks[chain.blocks.length - 2].number, latestHash: chain.blocks[chain.blocks.length - 2].hash }
      : served;
  watchPeers(rlpx);

  rlpx.events.on('peer:added', (peer) => {
    const eth = ethOf(peer);
    if (eth === undefined) return;
    // Keep-alive is visible to the test: every Ping/Pong the peer sends is reported, and with
    // --ping-after-status one Ping goes out right after Status (ethereumjs's own schedule is every
    // 15 s, too slow for tests).
    const handlePing = peer._handlePing.bind(peer);
    peer._handlePing = () => {
      out({ event: 'ping' });
      handlePing();
    };
    const handlePong = peer._handlePong.bind(peer);
    peer._handlePong = () => {
      out({ event: 'pong' });
      handlePong();
    };
    eth.events.on('status', (s) => {
      out({ event: 'status', version: eth.getVersion(), peer: describeStatus(s) });
      if (args['ping-after-status'] !== undefined) peer._sendPing();
      if (eth instanceof Eth69 && announced !== served) {
        eth.sendBlockRangeUpdate(served);
        out({ event: 'sent_range_update', ...describeRange(served) });
      }
    });
    eth.events.on('blockRangeUpdate', (r) => out({ event: 'block_range_update', ...describeRange(r) }));
    eth.events.on('message', (code, payload) => {
      // @ethereumjs/devp2p also emits the peer's Status (code 0) as a message: already handled.
      if (code === 0) return;
      try {
        const [reqId, req] = payload;
        switch (code) {
          case GET_BLOCK_HEADERS: {
            const [origin, amount, skip, reverse] = req;
            const headers = selectHeaders(chain, origin, bytesToInt(amount), bytesToInt(skip), bytesToInt(reverse) === 1);
            eth.sendMessage(BLOCK_HEADERS, [reqId, headers]);
            out({
              event: 'served',
              msg: 'GetBlockHeaders',
              origin: bytesToHex(origin),
              amount: bytesToInt(amount),
              skip: bytesToInt(skip),
              reverse: bytesToInt(reverse) === 1,
              count: headers.length,
            });
            break;
          }
          case GET_BLOCK_BODIES: {
            const bodies = req.slice(0, MAX_SERVE).map((h) => chain.byHash.get(bytesToHex(h))).filter((b) => b);
            eth.sendMessage(BLOCK_BODIES, [reqId, bodies.map((b) => b.wireBody)]);
            out({ event: 'served', msg: 'GetBlockBodies', asked: req.length, count: bodies.length });
            break;
          }
          case GET_RECEIPTS: {
            const found = req.slice(0, MAX_SERVE).map((h) => chain.byHash.get(bytesToHex(h))).filter((b) => b);
            eth.sendMessage(RECEIPTS, [reqId, found.map((b) => receiptsFor(eth, b))]);
            out({ event: 'served', msg: 'GetReceipts', asked: req.length, count: found.length });
            break;
          }
          default:
            // Gossip and requests for data this peer does not keep are ignored.
            out({ event: 'ignored', code });
        }
      } catch (err) {
        out({ event: 'bad_request', code, error: String(err?.message ?? err) });
        peer.disconnect(DISCONNECT_REASON.SUBPROTOCOL_ERROR);
      }
    });
    // --stale-fork-id: announce the right fork hash with no next fork, as a node that never heard
    // of Homestead would: EIP-2124 says a synced peer must reject it (remote stale).
    if (args['stale-fork-id'] !== undefined) eth._nextForkBlock = 0n;
    if (eth instanceof Eth69) {
      eth.sendStatus({ genesisHash: MAINNET_GENESIS_HASH, range: announced });
      return;
    }
    eth.sendStatus({
      td: uint(headDifficulty),
      bestHash: chain.head.hash,
      genesisHash: MAINNET_GENESIS_HASH,
      latestBlock: bigIntToBytes(chain.head.number),
    });
  });

  rlpx.events.once('listening', () => {
    const port = rlpx._server.address().port;
    out({
      event: 'listening',
      enode: enodeOf(rlpx, port),
      status: {
        networkId: common.chainId(),
        // The total difficulty at the head is not in the test data; eth/68 peers do not check it,
        // so the head's own difficulty stands in and nobody should compare it.
        td: headDifficulty,
        bestHash: bytesToHex(chain.head.hash),
        bestNumber: chain.head.number,
        genesisHash: bytesToHex(MAINNET_GENESIS_HASH),
        forkId,
        // eth/69 only: the range Status announces.
        ...Object.fromEntries(Object.entries(describeRange(announced)).map(([k, v]) => [`announced_${k}`, v])),
      },
      blocks: chain.blocks.length,
    });
  });
  rlpx.listen(0, '127.0.0.1');

  const stop = () => {
    rlpx.destroy();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

// ---------------------------------------------------------------- client

async function client(enode, args) {
  const target = parseEnode(enode);
  const from = BigInt(args.from ?? '1000001');
  const count = Number(args.count ?? '30');
  const common = mainnetCommon();
  forkIdOf(common);
  const rlpx = new RLPx(genPrivateKey(), { capabilities: capabilities(args), common, maxPeers: 1 });
  let rangeUpdate = null;
  let onRangeUpdate = () => {};
  watchPeers(rlpx);

  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no eth Status from the peer within 10 s')), REQUEST_TIMEOUT_MS);
    rlpx.events.on('peer:added', (peer) => {
      const eth = ethOf(peer);
      if (eth === undefined) return reject(new Error('peer has no eth capability in common'));
      eth.events.once('status', (s) => {
        clearTimeout(timer);
        out({ event: 'status', version: eth.getVersion(), peer: describeStatus(s) });
        resolve({ peer, eth });
      });
      eth.events.on('blockRangeUpdate', (r) => {
        rangeUpdate = r;
        out({ event: 'block_range_update', ...describeRange(r) });
        onRangeUpdate();
      });
      // A client that holds nothing: genesis is all it has (eth/69: the range [0, 0]).
      if (eth instanceof Eth69) {
        return eth.sendStatus({
          genesisHash: MAINNET_GENESIS_HASH,
          range: { earliest: 0n, latest: 0n, latestHash: MAINNET_GENESIS_HASH },
        });
      }
      eth.sendStatus({
        td: bigIntToBytes(GENESIS_TD),
        bestHash: MAINNET_GENESIS_HASH,
        genesisHash: MAINNET_GENESIS_HASH,
      });
    });
    rlpx.events.on('peer:removed', (_p, reason) =>
      reject(new Error(`peer disconnected: ${DisconnectReasonNames[reason] ?? reason}`)),
    );
  });
  await rlpx.connect(target);
  const { peer, eth } = await ready;

  let nextId = 1n;
  const pending = new Map();
  rlpx.events.on('peer:removed', (_p, reason) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(`peer disconnected: ${DisconnectReasonNames[reason] ?? reason}`));
    }
    pending.clear();
  });
  eth.events.on('message', (code, payload) => {
    if (code === 0) return;
    // The peer may ask us too (e.g. to resolve our Status best hash): this client holds no chain,
    // and an empty answer is a valid one.
    const answers = { [GET_BLOCK_HEADERS]: BLOCK_HEADERS, [GET_BLOCK_BODIES]: BLOCK_BODIES, [GET_RECEIPTS]: RECEIPTS };
    if (answers[code] !== undefined) {
      eth.sendMessage(answers[code], [payload[0], []]);
      return out({ event: 'answered_empty', code, id: bytesToBigInt(payload[0]) });
    }
    const id = bytesToBigInt(payload[0]);
    const p = pending.get(id);
    if (p === undefined) return out({ event: 'unsolicited', code, id });
    pending.delete(id);
    clearTimeout(p.timer);
    if (code !== p.expect) p.reject(new Error(`request ${id}: answer code ${code}, expected ${p.expect}`));
    else p.resolve(payload[1]);
  });
  const request = (code, expect, body) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => reject(new Error(`request ${id} (code ${code}) timed out`)), REQUEST_TIMEOUT_MS);
      pending.set(id, { expect, resolve, reject, timer });
      eth.sendMessage(code, [uint(id), body]);
    });
  const emit = (req, items) =>
    items.forEach((item, index) => out({ event: 'item', req, index, rlp: bytesToHex(RLP.encode(item)) }));

  const headerRequest = (origin, amount, skip, reverse) =>
    request(GET_BLOCK_HEADERS, BLOCK_HEADERS, [origin, uint(amount), uint(skip), uint(reverse ? 1 : 0)]);

  let hashes;
  if (args.hashes) {
    // Blocks that need not be consecutive: each header by its hash, then all bodies and receipts.
    hashes = args.hashes.split(',').map((h) => hexToBytes(h));
    for (const [i, h] of hashes.entries()) {
      const got = await headerRequest(h, 1, 0, false);
      got.forEach((item) => out({ event: 'item', req: 'headers_by_hash', index: i, rlp: bytesToHex(RLP.encode(item)) }));
    }
  } else {
    const headers = await headerRequest(uint(from), count, 0, false);
    emit('headers_by_number', headers);
    if (headers.length === 0) throw new Error(`peer has no header ${from}`);
    hashes = headers.map((h) => keccak256(RLP.encode(h)));
    const last = hashes[hashes.length - 1];
    emit('headers_by_hash_reverse', await headerRequest(last, count, 0, true));
    emit('headers_skip', await headerRequest(uint(from), Math.ceil(count / 3), 2, false));
    emit('headers_by_hash_skip_reverse', await headerRequest(last, 5, 4, true));
  }
  // A peer may answer with a prefix (size caps): ask again for the rest, as clients do.
  const fetchAll = async (code, expect, what) => {
    const got = [];
    while (got.length < hashes.length) {
      const part = await request(code, expect, hashes.slice(got.length));
      if (part.length === 0) throw new Error(`peer returned no ${what} for block ${got.length} of ${hashes.length}`);
      got.push(...part);
    }
    return got;
  };
  emit('bodies', await fetchAll(GET_BLOCK_BODIES, BLOCK_BODIES, 'bodies'));
  emit('receipts', await fetchAll(GET_RECEIPTS, RECEIPTS, 'receipts'));
  if (args['await-range-update'] !== undefined && rangeUpdate === null) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no BlockRangeUpdate within 10 s')), REQUEST_TIMEOUT_MS);
      onRangeUpdate = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  out({ event: 'done' });
  peer.disconnect(DISCONNECT_REASON.CLIENT_QUITTING);
  rlpx.destroy();
  // Give the Disconnect frame a moment to leave before the process ends, and exit only once
  // stdout is flushed: writes to a pipe are asynchronous, and the bodies line is larger than the
  // pipe, so a slow reader would otherwise get it cut short.
  setTimeout(() => process.stdout.write('', () => process.exit(0)), 100);
}

// ---------------------------------------------------------------- dump

// The wire bytes this peer serves, built here from the test data files without histd's code:
// what a histd responder must send for the same blocks.
function dump(args) {
  if (!args.chain) throw new Error('dump needs --chain DIR');
  for (const b of loadChain(args.chain).blocks) {
    out({
      event: 'block',
      number: b.number,
      hash: bytesToHex(b.hash),
      header: bytesToHex(RLP.encode(b.header)),
      body: bytesToHex(RLP.encode(b.wireBody)),
      receipts: bytesToHex(RLP.encode(b.receipts)),
      receipts69: bytesToHex(RLP.encode(b.receipts69)),
    });
  }
}

// ---------------------------------------------------------------- main

function parseArgs(argv) {
  const positional = [];
  const named = {};
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) named[argv[i].slice(2)] = argv[++i];
    else positional.push(argv[i]);
  }
  return { positional, named };
}

const { positional, named } = parseArgs(process.argv.slice(2));
try {
  if (positional[0] === 'serve') serve(named);
  else if (positional[0] === 'client' && positional[1]) await client(positional[1], named);
  else if (positional[0] === 'dump') dump(named);
  else if (positional[0] === 'dpt') await dpt(named);
  else fail('usage: peer.mjs serve|dump --chain DIR | peer.mjs client ENODE [--from N --count C | --hashes H,...] | peer.mjs dpt ...');
} catch (err) {
  fail(err?.message ?? err);
}
