//! The verifier against real mainnet blocks nobody here produced: every root must match exactly, and
//! any single-bit change to the data must be caught.

use histd::testkit::mainnet::load_blocks;
use histd::verify::{self, SealedHeader, VerifyError};

#[test]
fn every_mainnet_block_verifies() {
    let blocks = load_blocks();
    assert_eq!(blocks.len(), 11, "testdata blocks");
    for b in blocks {
        let sealed = SealedHeader::seal(b.header.clone());
        let v = verify::verify_block(sealed, b.body.clone(), b.receipts.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", b.file.display()));
        assert_eq!(v.receipts().len(), b.body.transactions.len());
    }
}

#[test]
fn wire_encodings_round_trip_byte_exact() {
    for b in load_blocks() {
        let mut out = Vec::new();
        histd::primitives::encode_body(&b.body, &mut out);
        assert_eq!(out, b.raw_body, "{}", b.file.display());
        let mut list = Vec::new();
        let payload: usize = b.receipts.iter().map(|r| r.eth69_length()).sum();
        alloy_rlp::Header {
            list: true,
            payload_length: payload,
        }
        .encode(&mut list);
        for r in &b.receipts {
            r.encode_eth69(&mut list);
        }
        assert_eq!(list, b.raw_receipts, "{}", b.file.display());
    }
}

#[test]
fn parent_links_across_forks() {
    let blocks = load_blocks();
    let mut linked = 0;
    for pair in blocks.windows(2) {
        if pair[1].header.number == pair[0].header.number + 1 {
            let a = SealedHeader::seal(pair[0].header.clone());
            let b = SealedHeader::seal(pair[1].header.clone());
            verify::check_link(&a, &b).expect("consecutive mainnet blocks link");
            linked += 1;
        }
    }
    assert_eq!(linked, 3, "Shanghai, Cancun and Prague boundaries");
}

#[test]
fn tampering_is_detected() {
    let blocks = load_blocks();
    let b = blocks
        .iter()
        .find(|b| b.body.withdrawals.as_ref().is_some_and(|w| !w.is_empty()));
    let b = b.expect("a block with withdrawals");
    let sealed = SealedHeader::seal(b.header.clone());

    let mut body = b.body.clone();
    body.transactions.swap(0, 1);
    assert!(matches!(
        verify::verify_block(sealed.clone(), body, b.receipts.clone()),
        Err(VerifyError::TransactionsRoot { .. })
    ));

    let mut body = b.body.clone();
    if let Some(w) = body.withdrawals.as_mut() {
        w[0].amount += 1;
    }
    assert!(matches!(
        verify::verify_block(sealed.clone(), body, b.receipts.clone()),
        Err(VerifyError::WithdrawalsRoot { .. })
    ));

    let mut receipts = b.receipts.clone();
    receipts[0].cumulative_gas_used += 1;
    assert!(matches!(
        verify::verify_block(sealed.clone(), b.body.clone(), receipts),
        Err(VerifyError::ReceiptsRoot { .. })
    ));

    let mut receipts = b.receipts.clone();
    receipts.pop();
    assert!(matches!(
        verify::verify_block(sealed.clone(), b.body.clone(), receipts),
        Err(VerifyError::ReceiptCount { .. })
    ));

    let with_logs = blocks
        .iter()
        .find(|b| b.receipts.iter().any(|r| !r.logs.is_empty()))
        .unwrap();
    let sealed = SealedHeader::seal(with_logs.header.clone());
    let mut receipts = with_logs.receipts.clone();
    let r = receipts.iter_mut().find(|r| !r.logs.is_empty()).unwrap();
    r.logs[0].address = alloy_primitives::Address::repeat_byte(0xee);
    assert!(verify::verify_block(sealed, with_logs.body.clone(), receipts).is_err());
}
