// eth/69 (EIP-7642) for @ethereumjs/devp2p, which ships eth/62-68 only: a capability plugged into
// its RLPx `Protocol` seam, written here from the spec (devp2p caps/eth.md, EIP-7642), not from
// histd's code. What changes from eth/68:
//   - Status is [version, networkid, genesis, forkid, earliestBlock, latestBlock, latestBlockHash]:
//     no total difficulty, no best hash; the range of blocks the node serves instead.
//   - Receipts travel as [tx-type, status, cumulative-gas, logs]: no bloom, and typed receipts are
//     plain lists (not `type || rlp` strings).
//   - BlockRangeUpdate (0x11) = [earliestBlock, latestBlock, latestBlockHash] moves that range.
//   - NewBlockHashes (0x01) and NewBlock (0x07) are gone, so 18 message ids (0x00-0x11).
//
// Used like ETH: `new RLPx(key, { capabilities: [Eth69.eth69, ETH.eth68], ... })`; the peer picks
// the highest version both sides offer and constructs this class for it.

import { ETH } from '@ethereumjs/devp2p';
import { RLP } from '@ethereumjs/rlp';
import { bigIntToBytes, bytesToBigInt, bytesToHex, equalsBytes, hexToBytes, isHexString } from '@ethereumjs/util';
import * as snappy from 'snappyjs';

// @ethereumjs/devp2p does not export its `Protocol` base class; ETH extends it, so it is ETH's
// prototype parent.
const Protocol = Object.getPrototypeOf(ETH);

export const Eth69Codes = {
  STATUS: 0x00,
  TX: 0x02,
  GET_BLOCK_HEADERS: 0x03,
  BLOCK_HEADERS: 0x04,
  GET_BLOCK_BODIES: 0x05,
  BLOCK_BODIES: 0x06,
  NEW_POOLED_TRANSACTION_HASHES: 0x08,
  GET_POOLED_TRANSACTIONS: 0x09,
  POOLED_TRANSACTIONS: 0x0a,
  GET_RECEIPTS: 0x0f,
  RECEIPTS: 0x10,
  BLOCK_RANGE_UPDATE: 0x11,
};
const KNOWN = new Set(Object.values(Eth69Codes));

function uint(n) {
  const v = BigInt(n);
  return v === 0n ? new Uint8Array() : bigIntToBytes(v);
}

// An RLP unsigned integer, strictly: no leading zero byte (zero is the empty string).
function readUint(bytes, what) {
  if (!(bytes instanceof Uint8Array)) throw new Error(`${what}: a list where an integer belongs`);
  if (bytes.length > 0 && bytes[0] === 0) throw new Error(`${what}: leading zero byte`);
  if (bytes.length > 8) throw new Error(`${what}: more than 64 bits`);
  return bytesToBigInt(bytes);
}

function readHash(bytes, what) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32) throw new Error(`${what}: not a 32-byte hash`);
  return bytes;
}

// [earliestBlock, latestBlock, latestBlockHash], with earliest <= latest (EIP-7642).
export function readRange(fields, what) {
  if (!Array.isArray(fields) || fields.length !== 3) throw new Error(`${what}: expected 3 fields`);
  const earliest = readUint(fields[0], `${what} earliestBlock`);
  const latest = readUint(fields[1], `${what} latestBlock`);
  const latestHash = readHash(fields[2], `${what} latestBlockHash`);
  if (earliest > latest) throw new Error(`${what}: earliestBlock ${earliest} > latestBlock ${latest}`);
  return { earliest, latest, latestHash };
}

export function describeRange(r) {
  return { earliest: r.earliest, latest: r.latest, latestHash: bytesToHex(r.latestHash) };
}

export class Eth69 extends Protocol {
  constructor(version, peer, send) {
    super(peer, send, 'eth', version, Eth69Codes);
    this._status = null;
    this._peerStatus = null;
    this._peerRange = null;
    // The fork id of our Common's hardfork, as ETH computes it (EIP-2124), and the fields ETH's
    // fork-id validator reads, so that validator can be reused unchanged below.
    const c = this._peer.common;
    this._hardfork = c.hardfork();
    this._latestBlock = c.hardforkBlock(this._hardfork) ?? 0n;
    this._forkHash = c.forkHash(this._hardfork);
    this._nextForkBlock = c.nextHardforkBlockOrTimestamp(this._hardfork) ?? 0n;
    this.DEBUG = false;
  }

  getVersion() {
    return this._version;
  }

  // Frames are snappy-compressed once both sides speak p2p v5 (always, with eth/69 peers).
  _sendRaw(code, payload) {
    let bytes = RLP.encode(payload);
    if (this._peer._hello !== null && this._peer._hello.protocolVersion >= 5) bytes = snappy.compress(bytes);
    this._send(code, bytes);
  }

  // Sends our Status: `range` = { earliest, latest, latestHash } (bigints and bytes).
  sendStatus({ genesisHash, range }) {
    if (this._status !== null) return;
    if (range.latest > this._latestBlock) this._latestBlock = range.latest;
    const forkHash = hexToBytes(isHexString(this._forkHash) ? this._forkHash : `0x${this._forkHash}`);
    this._status = [
      uint(this._version),
      uint(this._peer.common.chainId()),
      genesisHash,
      [forkHash, uint(this._nextForkBlock)],
      uint(range.earliest),
      uint(range.latest),
      range.latestHash,
    ];
    this._sendRaw(Eth69Codes.STATUS, this._status);
    this._handleStatus();
  }

  sendBlockRangeUpdate(range) {
    this._sendRaw(Eth69Codes.BLOCK_RANGE_UPDATE, [uint(range.earliest), uint(range.latest), range.latestHash]);
  }

  sendMessage(code, payload) {
    if (code === Eth69Codes.STATUS) throw new Error('send Status with sendStatus');
    if (!KNOWN.has(code)) throw new Error(`message ${code} does not exist in eth/69`);
    this._sendRaw(code, payload);
  }

  // Called by the RLPx peer with the decompressed payload; a throw makes it disconnect with
  // SUBPROTOCOL_ERROR, which is what a malformed or unknown message deserves.
  _handleMessage(code, data) {
    if (!KNOWN.has(code)) throw new Error(`message ${code} does not exist in eth/69`);
    const payload = RLP.decode(data);
    if (code === Eth69Codes.STATUS) {
      if (this._peerStatus !== null) throw new Error('second Status');
      this._peerStatus = payload;
      this._handleStatus();
      return;
    }
    if (this._peerStatus === null || this._status === null) throw new Error(`message ${code} before Status`);
    if (code === Eth69Codes.BLOCK_RANGE_UPDATE) {
      this._peerRange = readRange(payload, 'BlockRangeUpdate');
      this.events.emit('blockRangeUpdate', this._peerRange);
      return;
    }
    this.events.emit('message', code, payload);
  }

  _handleStatus() {
    if (this._status === null || this._peerStatus === null) return;
    clearTimeout(this._statusTimeoutId);
    const s = this._peerStatus;
    if (!Array.isArray(s) || s.length < 7) throw new Error(`eth/69 Status with ${s.length} fields`);
    const [version, networkId, genesis, forkId, ...range] = s;
    if (readUint(version, 'Status version') !== BigInt(this._version)) throw new Error('Status version mismatch');
    if (readUint(networkId, 'Status networkid') !== bytesToBigInt(this._status[1])) throw new Error('NetworkId mismatch');
    if (!equalsBytes(readHash(genesis, 'Status genesis'), this._status[2])) throw new Error('Genesis block mismatch');
    if (!Array.isArray(forkId) || forkId.length !== 2) throw new Error('Incorrect forkId msg format');
    // EIP-2124 validation as ethereumjs does it for eth/64+.
    ETH.prototype._validateForkId.call(this, forkId);
    this._peerRange = readRange(range.slice(0, 3), 'Status');
    this.events.emit('status', {
      chainId: networkId,
      genesisHash: genesis,
      forkId,
      range: this._peerRange,
    });
  }

  getMsgPrefix(code) {
    return Object.keys(Eth69Codes).find((k) => Eth69Codes[k] === code) ?? `0x${code.toString(16)}`;
  }
}

// 18 message ids: 0x00..0x11.
Eth69.eth69 = { name: 'eth', version: 69, length: 18, constructor: Eth69 };

// eth/69 receipt [tx-type, status, cumulative-gas, logs] of an eth/68 list item (the consensus
// receipt: a legacy list, or a string `type || rlp([status, gas, bloom, logs])`). The bloom is
// dropped after checking it is the bloom of the logs, so that nothing is silently lost.
export function eth68ToEth69(item, bloomOf) {
  let type = 0;
  let fields = item;
  if (item instanceof Uint8Array) {
    type = item[0];
    fields = RLP.decode(item.subarray(1));
  }
  const [status, gas, bloom, logs] = fields;
  if (!equalsBytes(bloom, bloomOf(logs))) throw new Error('receipt bloom is not the bloom of its logs');
  return [uint(type), status, gas, logs];
}
