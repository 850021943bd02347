"""A web3.py client against a running histd: `python web3_client.py EXPECT.json`.

Calls every method histd serves through web3.py's own API (`provider.make_request` only where it
has none), checks the answers against what the test wrote into EXPECT.json (taken from the testnet
chain), pages `eth_getLogs` through the -32005 hint (catch the error, read the range from it),
installs filters (`w3.eth.filter`) and WebSocket subscriptions (`newHeads`, `logs` through
`AsyncWeb3(WebSocketProvider)`), prints `{"ready": true}`, and then follows the chain while the
test reorgs it until it has seen the new head and the expected numbers of removed and added logs.
Its last stdout line is one JSON object of results; the Rust test (tests/it/rpc/clients.rs)
asserts on it. Exits 0 unless it could not run at all.
"""

import asyncio
import json
import re
import sys
import time
from importlib.metadata import version as package_version

from web3 import AsyncWeb3, Web3
from web3.exceptions import Web3RPCError
from web3.providers.persistent import WebSocketProvider

expect = json.load(open(sys.argv[1]))
failures = []
calls = set()


def check(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


def hexstr(value):
    """A hash or bytes value as 0x-hex (web3.py answers HexBytes)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def log_key(log):
    return {
        "blockHash": hexstr(log["blockHash"]),
        "blockNumber": int(log["blockNumber"]),
        "logIndex": int(log["logIndex"]),
        "removed": bool(log.get("removed", False)),
    }


def step(method, f):
    calls.add(method)
    try:
        return f()
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the run
        failures.append(f"{method}: {e!r}")
        return None


def rpc_error(e):
    """The JSON-RPC error object of a Web3RPCError."""
    response = getattr(e, "rpc_response", None) or {}
    return response.get("error") or {}


w3 = Web3(Web3.HTTPProvider(expect["http"], request_kwargs={"timeout": 30}))
eth = w3.eth
b = expect["block"]
t = expect["tx"]
addresses = [Web3.to_checksum_address(a) for a in expect["watch"]["addresses"]]

# --- Plain methods ---------------------------------------------------------------------------
check("eth_chainId", step("eth_chainId", lambda: eth.chain_id), expect["chainId"])
check("net_version", step("net_version", lambda: w3.net.version), str(expect["chainId"]))
check("net_listening", step("net_listening", lambda: w3.net.listening), True)
client_version = step("web3_clientVersion", lambda: w3.client_version)
if not str(client_version).startswith("histd/"):
    failures.append(f"web3_clientVersion: {client_version!r}")
check("eth_blockNumber", step("eth_blockNumber", lambda: eth.block_number), expect["head"]["number"])
check("eth_syncing", step("eth_syncing", lambda: eth.syncing), False)

by_number = step("eth_getBlockByNumber", lambda: eth.get_block(b["number"], full_transactions=True))
if by_number:
    check("get_block(number).hash", hexstr(by_number["hash"]), b["hash"])
    txs = by_number["transactions"]
    check("get_block(number).transactions", [hexstr(x["hash"]) for x in txs], b["txHashes"])
    check("get_block(number).tx[i].from", txs[t["index"]]["from"].lower(), t["from"])
latest = step("eth_getBlockByNumber", lambda: eth.get_block("latest"))
check("get_block(latest).hash", latest and hexstr(latest["hash"]), expect["head"]["hash"])
earliest = step("eth_getBlockByNumber", lambda: eth.get_block("earliest"))
check("get_block(earliest).number", earliest and earliest["number"], expect["earliest"])
for tag in ["safe", "finalized"]:
    block = step("eth_getBlockByNumber", lambda: eth.get_block(tag))
    check(f"get_block({tag}).number", block and block["number"], expect["safe"])
pending = step("eth_getBlockByNumber", lambda: eth.get_block("pending"))
check("get_block(pending).hash", pending and hexstr(pending["hash"]), expect["head"]["hash"])
# Every block whole, through web3.py's formatters (every transaction type of the mainnet templates,
# blob fields included): transactions and receipts agree with each other and with the chain.
for want in expect["blocks"]:
    n = want["number"]
    block = step("eth_getBlockByNumber", lambda: eth.get_block(n, full_transactions=True))
    rs = step("eth_getBlockReceipts", lambda: eth.get_block_receipts(n))
    if not block or rs is None:
        continue
    check(f"block {n} hash", hexstr(block["hash"]), want["hash"])
    check(f"block {n} transactions", len(block["transactions"]), want["txCount"])
    check(f"block {n} receipts", len(rs), want["txCount"])
    check(f"block {n} logs", sum(len(r["logs"]) for r in rs), want["logCount"])
    for i, (tx, r) in enumerate(zip(block["transactions"], rs)):
        if (tx["hash"], tx["from"], want["hash"]) != (r["transactionHash"], r["from"], hexstr(r["blockHash"])):
            failures.append(f"block {n}: receipt {i} does not match its transaction")
            break
# A JSON-RPC batch.
calls.add("batch")
try:
    with w3.batch_requests() as batch:
        batch.add(eth.get_block_number())
        batch.add(eth._chain_id())
        batch.add(eth.get_block(b["number"]))
        got = batch.execute()
    check("batch", [got[0], got[1], hexstr(got[2]["hash"])], [expect["head"]["number"], expect["chainId"], b["hash"]])
except Exception as e:  # noqa: BLE001 - reported, the run goes on
    failures.append(f"batch: {e!r}")
by_hash = step("eth_getBlockByHash", lambda: eth.get_block(b["hash"]))
if by_hash:
    check("get_block(hash).number", by_hash["number"], b["number"])
    check("get_block(hash).transactions", [hexstr(x) for x in by_hash["transactions"]], b["txHashes"])
missing = step(
    "eth_getBlockByHash",
    lambda: w3.provider.make_request("eth_getBlockByHash", ["0x" + "ee" * 32, False]),
)
check("eth_getBlockByHash(missing)", missing and missing.get("result", "absent"), None)
check(
    "get_block_transaction_count(number)",
    step("eth_getBlockTransactionCountByNumber", lambda: eth.get_block_transaction_count(b["number"])),
    len(b["txHashes"]),
)
check(
    "get_block_transaction_count(hash)",
    step("eth_getBlockTransactionCountByHash", lambda: eth.get_block_transaction_count(b["hash"])),
    len(b["txHashes"]),
)

for method, get in [
    ("eth_getTransactionByHash", lambda: eth.get_transaction(t["hash"])),
    ("eth_getTransactionByBlockNumberAndIndex", lambda: eth.get_transaction_by_block(b["number"], t["index"])),
    ("eth_getTransactionByBlockHashAndIndex", lambda: eth.get_transaction_by_block(b["hash"], t["index"])),
]:
    tx = step(method, get)
    if tx:
        check(f"{method}.hash", hexstr(tx["hash"]), t["hash"])
        check(f"{method}.from", tx["from"].lower(), t["from"])
        check(f"{method}.blockHash", hexstr(tx["blockHash"]), b["hash"])
        check(f"{method}.transactionIndex", tx["transactionIndex"], t["index"])
receipt = step("eth_getTransactionReceipt", lambda: eth.get_transaction_receipt(t["hash"]))
if receipt:
    check("receipt.transactionHash", hexstr(receipt["transactionHash"]), t["hash"])
    check("receipt.from", receipt["from"].lower(), t["from"])
    check("receipt.logs", len(receipt["logs"]), t["logCount"])
receipts = step("eth_getBlockReceipts", lambda: eth.get_block_receipts(b["number"]))
if receipts is not None:
    check("get_block_receipts.length", len(receipts), len(b["txHashes"]))
    check("get_block_receipts.logs", sum(len(r["logs"]) for r in receipts), b["logCount"])
    check("get_block_receipts[i]", hexstr(receipts[t["index"]]["transactionHash"]), t["hash"])

# --- eth_getLogs ------------------------------------------------------------------------------
in_block = step("eth_getLogs", lambda: eth.get_logs({"blockHash": b["hash"]}))
if in_block is not None:
    check("get_logs(blockHash).logIndex", [x["logIndex"] for x in in_block], list(range(b["logCount"])))
by_topic = step(
    "eth_getLogs",
    lambda: eth.get_logs({"fromBlock": b["number"], "toBlock": b["number"], "topics": [[b["topic0"]]]}),
)
check("get_logs(topic0).length", by_topic and len(by_topic), b["topic0Count"])
watched = step(
    "eth_getLogs",
    lambda: eth.get_logs({"address": addresses, "fromBlock": b["number"], "toBlock": b["number"]}),
)
check("get_logs(address list).length", watched and len(watched), b["watchCount"])

# Pagination through the -32005 hint: ask for the whole range; on -32005 take the suggested range
# from the message and go on from its end.
RANGE_HINT = re.compile(r"Try with this block range \[0x([0-9a-fA-F]+),\s?0x([0-9a-fA-F]+)\]")
pages, per_block, hints, prev = [], {}, 0, None
start, end = expect["paginate"]["from"], expect["paginate"]["to"]
while start <= end and len(failures) < 50:
    stop, logs = end, None
    while True:
        try:
            calls.add("eth_getLogs")
            logs = eth.get_logs({"fromBlock": start, "toBlock": stop})
            break
        except Web3RPCError as e:
            err = rpc_error(e)
            m = RANGE_HINT.search(err.get("message", "")) if err.get("code") == -32005 else None
            if not m:
                failures.append(f"get_logs [{start}, {stop}]: {e!r}")
                break
            hints += 1
            hint_from, hint_to = int(m.group(1), 16), int(m.group(2), 16)
            check("hint data", err.get("data"), {"from": hex(hint_from), "to": hex(hint_to), "limit": expect["maxLogs"]})
            if hint_from != start or hint_to >= stop:
                failures.append(f"hint [{hint_from}, {hint_to}] for [{start}, {stop}] does not shrink the range")
                break
            stop = hint_to
    if logs is None:
        break
    pages.append({"from": start, "to": stop, "count": len(logs)})
    for log in logs:
        key = (log["blockNumber"], log["logIndex"])
        if not start <= key[0] <= stop:
            failures.append(f"page [{start}, {stop}] holds a log of block {key[0]}")
        if prev and (key[0] < prev[0] or (key[0] == prev[0] and key[1] != prev[1] + 1)):
            failures.append(f"log {key} after {prev}: out of order or a gap")
        if (not prev or key[0] != prev[0]) and key[1] != 0:
            failures.append(f"block {key[0]} starts at logIndex {key[1]}")
        per_block[str(key[0])] = per_block.get(str(key[0]), 0) + 1
        prev = key
    start = stop + 1

# --- Filters over HTTP -------------------------------------------------------------------------
ranged = step(
    "eth_newFilter",
    lambda: eth.filter({"address": addresses, "fromBlock": b["number"], "toBlock": b["number"]}),
)
if ranged:
    check("get_all_entries", len(step("eth_getFilterLogs", ranged.get_all_entries) or []), b["watchCount"])
    check("uninstall_filter", step("eth_uninstallFilter", lambda: eth.uninstall_filter(ranged.filter_id)), True)
    check("uninstall_filter again", step("eth_uninstallFilter", lambda: eth.uninstall_filter(ranged.filter_id)), False)
log_filter = step("eth_newFilter", lambda: eth.filter({"address": addresses}))
block_filter = step("eth_newBlockFilter", lambda: eth.filter("latest"))
check("get_new_entries before the reorg", log_filter and step("eth_getFilterChanges", log_filter.get_new_entries), [])

# --- State methods: -32601 ----------------------------------------------------------------------
state_error = None
try:
    calls.add("eth_getBalance")
    eth.get_balance(addresses[0])
    failures.append("eth_getBalance answered")
except Web3RPCError as e:
    err = rpc_error(e)
    state_error = {"code": err.get("code"), "message": err.get("message")}

# --- Watching through the reorg -----------------------------------------------------------------
seen = {"wsHeads": [], "wsLogs": [], "filterLogs": [], "filterBlocks": []}
r = expect["reorg"]


def done():
    ws_removed = sum(1 for x in seen["wsLogs"] if x["removed"])
    return (
        any(h["hash"] == r["newHeadHash"] for h in seen["wsHeads"])
        and ws_removed >= r["removed"]
        and len(seen["wsLogs"]) - ws_removed >= r["added"]
        and len(seen["filterLogs"]) >= r["removed"] + r["added"]
        and r["newHeadHash"] in seen["filterBlocks"]
    )


def poll_filters():
    if log_filter:
        logs = step("eth_getFilterChanges", log_filter.get_new_entries) or []
        seen["filterLogs"].extend(log_key(x) for x in logs)
    if block_filter:
        hashes = step("eth_getFilterChanges", block_filter.get_new_entries) or []
        seen["filterBlocks"].extend(hexstr(h) for h in hashes)


async def follow():
    async with AsyncWeb3(WebSocketProvider(expect["ws"], max_connection_retries=1)) as aw3:
        calls.add("eth_subscribe")
        heads = await aw3.eth.subscribe("newHeads")
        logs = await aw3.eth.subscribe("logs", {"address": addresses})
        print(json.dumps({"ready": True}), flush=True)
        deadline = time.monotonic() + r["timeoutMs"] / 1000
        stream = aw3.socket.process_subscriptions()
        while not done() and time.monotonic() < deadline:
            try:
                msg = await asyncio.wait_for(stream.__anext__(), timeout=0.2)
            except asyncio.TimeoutError:
                # Quiet on the socket: poll the HTTP filters meanwhile (in a thread: blocking).
                await asyncio.to_thread(poll_filters)
                continue
            if msg["subscription"] == heads:
                h = msg["result"]
                seen["wsHeads"].append({"number": int(h["number"]), "hash": hexstr(h["hash"])})
            elif msg["subscription"] == logs:
                seen["wsLogs"].append(log_key(msg["result"]))
        await asyncio.to_thread(poll_filters)
        if not done():
            failures.append("timed out waiting for the reorg to be seen")
        calls.add("eth_unsubscribe")
        check("unsubscribe(newHeads)", await aw3.eth.unsubscribe(heads), True)
        check("unsubscribe(logs)", await aw3.eth.unsubscribe(logs), True)


asyncio.run(follow())
if log_filter:
    step("eth_uninstallFilter", lambda: eth.uninstall_filter(log_filter.filter_id))
if block_filter:
    step("eth_uninstallFilter", lambda: eth.uninstall_filter(block_filter.filter_id))

print(
    json.dumps(
        {
            "client": f"web3.py {package_version('web3')}",
            "failures": failures,
            "calls": sorted(calls),
            "hints": hints,
            "pages": pages,
            "perBlock": per_block,
            "stateError": state_error,
            "seen": seen,
        }
    ),
    flush=True,
)
