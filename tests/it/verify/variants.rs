//! One test per `VerifyError` variant: each breaks exactly one rule of a real mainnet block and
//! asserts the exact variant with both sides of the comparison, so deleting any check fails here.

use alloy_consensus::TxType;
use alloy_primitives::{B256, Bloom};
use histd::primitives::BlockNumber;
use histd::testkit::mainnet::{RawMainnetBlock, load_blocks};
use histd::verify::{self, SealedHeader, VerifyError};

fn block(number: u64) -> RawMainnetBlock {
    load_blocks()
        .into_iter()
        .find(|b| b.header.number == number)
        .unwrap_or_else(|| panic!("testdata has block {number}"))
}

/// The two consecutive blocks across the Cancun boundary.
fn parent_and_child() -> (SealedHeader, SealedHeader) {
    (
        SealedHeader::seal(block(19_426_586).header),
        SealedHeader::seal(block(19_426_587).header),
    )
}

#[test]
fn parent_link_variant_when_parent_hash_is_wrong() {
    let (parent, child) = parent_and_child();
    let mut header = child.header.clone();
    header.parent_hash = B256::repeat_byte(0x66);
    let child = SealedHeader::seal(header);
    assert_eq!(
        verify::check_link(&parent, &child),
        Err(VerifyError::ParentLink {
            number: BlockNumber(19_426_587),
            expected: parent.hash,
            got: B256::repeat_byte(0x66),
        })
    );
    // The same through `seal_chain`, which is how a fetched header batch is checked.
    let err = verify::seal_chain(vec![parent.header.clone(), child.header]).unwrap_err();
    assert!(matches!(err, VerifyError::ParentLink { .. }), "{err}");
}

#[test]
fn not_consecutive_variant_when_a_number_is_skipped() {
    let (parent, child) = parent_and_child();
    let mut header = child.header.clone();
    header.number += 1;
    let skipped = SealedHeader::seal(header);
    assert_eq!(
        verify::check_link(&parent, &skipped),
        Err(VerifyError::NotConsecutive {
            expected: BlockNumber(19_426_587),
            got: BlockNumber(19_426_588),
        })
    );
    // Reversed order: the number check comes before the hash check.
    assert_eq!(
        verify::seal_chain(vec![child.header.clone(), parent.header.clone()]),
        Err(VerifyError::NotConsecutive {
            expected: BlockNumber(19_426_588),
            got: BlockNumber(19_426_586),
        })
    );
    // A repeated header is not consecutive either, even though nothing else differs.
    let err = verify::check_link(&parent, &parent).unwrap_err();
    assert!(matches!(err, VerifyError::NotConsecutive { .. }), "{err}");
}

#[test]
fn header_hash_variant_when_header_is_not_the_trusted_one() {
    let (parent, child) = parent_and_child();
    // The trusted hash of a block is what its child names as parent.
    verify::check_hash(&parent, child.header.parent_hash).expect("real parent hash matches");
    let mut header = parent.header.clone();
    header.extra_data = b"forged".to_vec().into();
    let forged = SealedHeader::seal(header);
    assert_eq!(
        verify::check_hash(&forged, child.header.parent_hash),
        Err(VerifyError::HeaderHash {
            number: BlockNumber(19_426_586),
            expected: parent.hash,
            got: forged.hash,
        })
    );
}

#[test]
fn transactions_root_variant_when_a_transaction_is_dropped() {
    let b = block(22_162_263);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut body = b.body.clone();
    body.transactions.pop();
    let computed = alloy_consensus::proofs::calculate_transaction_root(&body.transactions);
    assert_eq!(
        verify::verify_block(sealed, body, b.receipts.clone()),
        Err(VerifyError::TransactionsRoot {
            number: BlockNumber(22_162_263),
            expected: b.header.transactions_root,
            computed,
        })
    );
}

#[test]
fn ommers_hash_variant_when_the_ommer_is_dropped_or_added() {
    // 14764013 is a proof-of-work block with one ommer.
    let b = block(14_764_013);
    assert_eq!(b.body.ommers.len(), 1, "testdata block has one ommer");
    let sealed = SealedHeader::seal(b.header.clone());
    let mut body = b.body.clone();
    body.ommers.clear();
    assert_eq!(
        verify::verify_block(sealed, body, b.receipts.clone()),
        Err(VerifyError::OmmersHash {
            number: BlockNumber(14_764_013),
            expected: b.header.ommers_hash,
            computed: alloy_consensus::EMPTY_OMMER_ROOT_HASH,
        })
    );

    // And a post-merge block (no ommers allowed) given one.
    let b = block(17_062_257);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut body = b.body.clone();
    body.ommers.push(block(14_764_013).header);
    let err = verify::verify_block(sealed, body, b.receipts.clone()).unwrap_err();
    assert!(
        matches!(err, VerifyError::OmmersHash { expected, .. } if expected == alloy_consensus::EMPTY_OMMER_ROOT_HASH),
        "{err}"
    );
}

#[test]
fn withdrawals_root_variant_when_withdrawals_are_missing() {
    let b = block(17_062_257);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut body = b.body.clone();
    body.withdrawals = None;
    assert_eq!(
        verify::verify_block(sealed, body, b.receipts.clone()),
        Err(VerifyError::WithdrawalsRoot {
            number: BlockNumber(17_062_257),
            expected: b.header.withdrawals_root,
            computed: None,
        })
    );
}

#[test]
fn receipt_count_variant_when_a_receipt_is_missing() {
    let b = block(22_162_263);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut receipts = b.receipts.clone();
    receipts.pop();
    assert_eq!(
        verify::verify_block(sealed, b.body.clone(), receipts),
        Err(VerifyError::ReceiptCount {
            number: BlockNumber(22_162_263),
            transactions: b.body.transactions.len(),
            receipts: b.receipts.len() - 1,
        })
    );
}

#[test]
fn receipts_root_variant_when_a_status_flips() {
    let b = block(22_162_263);
    let sealed = SealedHeader::seal(b.header.clone());
    let mut receipts = b.receipts.clone();
    receipts[0].status = (!receipts[0].is_success()).into();
    let computed = verify::receipts_root(&receipts);
    assert_eq!(
        verify::verify_block(sealed, b.body.clone(), receipts),
        Err(VerifyError::ReceiptsRoot {
            number: BlockNumber(22_162_263),
            expected: b.header.receipts_root,
            computed,
        })
    );
}

#[test]
fn logs_bloom_variant_when_header_bloom_misses_a_log() {
    // receiptsRoot commits to blooms rebuilt from the logs, so only the header's bloom can disagree:
    // a header whose bloom drops a bit would hide real logs from bloom-filtered queries.
    let b = block(22_162_263);
    let mut header = b.header.clone();
    assert_ne!(header.logs_bloom, Bloom::ZERO, "block has logs");
    header.logs_bloom = Bloom::ZERO;
    let sealed = SealedHeader::seal(header);
    assert_eq!(
        verify::verify_block(sealed, b.body.clone(), b.receipts.clone()),
        Err(VerifyError::LogsBloom {
            number: BlockNumber(22_162_263),
        })
    );
    // An extra bit is as wrong as a missing one.
    let mut header = b.header.clone();
    let first_zero = header.logs_bloom.0.iter().position(|&byte| byte != 0xff);
    let i = first_zero.expect("bloom not saturated");
    header.logs_bloom.0[i] = 0xff;
    let err = verify::verify_block(
        SealedHeader::seal(header),
        b.body.clone(),
        b.receipts.clone(),
    )
    .unwrap_err();
    assert!(matches!(err, VerifyError::LogsBloom { .. }), "{err}");
}

#[test]
fn receipt_type_variant_when_a_receipt_claims_another_type() {
    // 22162263 has tx types 0, 1, 2 and 3.
    let b = block(22_162_263);
    let sealed = SealedHeader::seal(b.header.clone());
    let index = b
        .body
        .transactions
        .iter()
        .position(|t| t.tx_type() == TxType::Eip4844)
        .expect("a blob transaction");
    let mut receipts = b.receipts.clone();
    receipts[index].tx_type = TxType::Eip1559;
    assert_eq!(
        verify::verify_block(sealed, b.body.clone(), receipts),
        Err(VerifyError::ReceiptType {
            number: BlockNumber(22_162_263),
            index,
            transaction: 3,
            receipt: 2,
        })
    );
}
