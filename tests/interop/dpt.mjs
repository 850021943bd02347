// A discv4 node built on @ethereumjs/devp2p's DPT (its discv4 implementation), for histd's discv4
// interop tests (tests/it/interop/dpt.rs). Run through peer.mjs:
//
//   node peer.mjs dpt --address 127.0.0.3 [--bootstrap ENODE,ENODE...] [--refresh-ms 600]
//
// Binds UDP on ADDRESS (port chosen by the OS), bootstraps from each ENODE (ping, wait for the pong,
// then FindNode for its own id), and keeps DPT's own refresh running (FindNode to every table entry
// once per --refresh-ms; DPT's default is once a minute, too slow for a test).
//
// Output, one JSON object per line on stdout:
//   {"event":"listening","enode":...}          first
//   {"event":"received","type":"ping"|"pong"|"findneighbours"|"neighbours","from":"ip:port",
//    "id":..., "nodes":[...]}                  every datagram that reaches DPT (nodes: neighbours only)
//   {"event":"sent","type":...,"to":"ip:port"} every datagram DPT sends
//   {"event":"peer_added","id","address","udpPort","tcpPort"} / "peer_removed": DPT's table changes
//   {"event":"peers","peers":[...]}            DPT's whole table, answering a `peers` line on stdin
//   {"event":"dpt_error","error":...}          errors DPT reports (it goes on running)
// Commands on stdin, one per line: `peers`, `bootstrap ENODE`, `ping ENODE`.
// Runs until stdin closes or SIGTERM.

import { createInterface } from 'node:readline';

import { DPT, genPrivateKey } from '@ethereumjs/devp2p';
import { RLP } from '@ethereumjs/rlp';
import { bytesToHex, bytesToInt, hexToBytes } from '@ethereumjs/util';
import { secp256k1 } from 'ethereum-cryptography/secp256k1.js';

const TYPES = { 1: 'ping', 2: 'pong', 3: 'findneighbours', 4: 'neighbours' };

function out(obj) {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@([^:]+):(\d+)(?:\?discport=(\d+))?$/.exec(url);
  if (!m) throw new Error(`not an enode URL: ${url}`);
  const tcpPort = Number(m[3]);
  return { id: hexToBytes(`0x${m[1]}`), address: m[2], tcpPort, udpPort: m[4] ? Number(m[4]) : tcpPort };
}

function describePeer(p) {
  return { id: p.id ? bytesToHex(p.id) : null, address: p.address, udpPort: p.udpPort, tcpPort: p.tcpPort ?? null };
}

// The nodes of a Neighbours packet, decoded here (DPT only hands its users their endpoints).
function neighboursOf(msg) {
  const [nodes] = RLP.decode(msg.subarray(98));
  return nodes.map(([ip, udp, tcp, id]) => ({
    id: bytesToHex(id),
    address: Array.from(ip).join('.'),
    udpPort: udp.length ? bytesToInt(udp) : null,
    tcpPort: tcp.length ? bytesToInt(tcp) : null,
  }));
}

export async function dpt(args) {
  const address = args.address ?? '127.0.0.1';
  const key = genPrivateKey();
  const id = secp256k1.getPublicKey(key, false).subarray(1);
  // DPT puts this object in its Pings as `from`; the ports are filled in once the socket is bound
  // (DPT keeps the reference).
  const endpoint = { address, udpPort: null, tcpPort: null };
  const node = new DPT(key, {
    endpoint,
    refreshInterval: Number(args['refresh-ms'] ?? '600') * 10,
    shouldFindNeighbours: true,
    shouldGetDnsPeers: false,
    timeout: 2000,
  });
  node.events.on('error', (err) => out({ event: 'dpt_error', error: String(err?.message ?? err) }));
  node.events.on('peer:added', (p) => out({ event: 'peer_added', ...describePeer(p) }));
  node.events.on('peer:removed', (p) => out({ event: 'peer_removed', ...describePeer(p) }));

  // Every datagram in and out is reported, so a test can tell which side did what.
  const server = node._server;
  const handle = server._handler.bind(server);
  server._handler = (msg, rinfo) => {
    const type = TYPES[msg[97]] ?? `type ${msg[97]}`;
    const line = { event: 'received', type, from: `${rinfo.address}:${rinfo.port}` };
    try {
      if (type === 'neighbours') line.nodes = neighboursOf(msg);
    } catch (err) {
      line.undecodable = String(err?.message ?? err);
    }
    out(line);
    handle(msg, rinfo);
  };
  const send = server._send.bind(server);
  server._send = (peer, typename, data) => {
    out({ event: 'sent', type: typename, to: `${peer.address}:${peer.udpPort}` });
    return send(peer, typename, data);
  };

  await new Promise((resolve) => {
    node.events.once('listening', resolve);
    node.bind(0, address);
  });
  const port = server._socket.address().port;
  endpoint.udpPort = port;
  endpoint.tcpPort = port;
  out({ event: 'listening', enode: `enode://${bytesToHex(id).slice(2)}@${address}:${port}`, id: bytesToHex(id) });

  for (const enode of (args.bootstrap ?? '').split(',').filter((e) => e)) node.bootstrap(parseEnode(enode));

  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const [cmd, arg] = line.trim().split(/\s+/);
    try {
      if (cmd === 'peers') out({ event: 'peers', peers: node.getPeers().map(describePeer) });
      else if (cmd === 'bootstrap') node.bootstrap(parseEnode(arg));
      else if (cmd === 'ping') {
        node.addPeer(parseEnode(arg)).then(
          (p) => out({ event: 'ping_answered', ...describePeer(p) }),
          (err) => out({ event: 'ping_failed', error: String(err?.message ?? err) }),
        );
      } else out({ event: 'dpt_error', error: `unknown command: ${line}` });
    } catch (err) {
      out({ event: 'dpt_error', error: String(err?.message ?? err) });
    }
  });
  const stop = () => {
    node.destroy();
    process.exit(0);
  };
  commands.on('close', stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
