//! era1 file names: `<network>-<epoch, 5 digits>-<first 4 bytes of the epoch root, hex>.era1`,
//! e.g. `mainnet-00000-5ec1ffb8.era1`. Other clients name their files so; a name that parses must
//! agree with the content (a renamed file from another epoch is refused).

use alloy_primitives::B256;

use crate::verify::accumulator::EPOCH_SIZE;

/// A parsed era1 file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Era1Name {
    /// Network (`mainnet`).
    pub network: String,
    /// Epoch index.
    pub epoch: u64,
    /// First four bytes of the epoch's accumulator root.
    pub short_root: [u8; 4],
}

impl Era1Name {
    /// Parses a file name (not a path); `None` if it is not in the era1 pattern.
    pub fn parse(file_name: &str) -> Option<Self> {
        let stem = file_name.strip_suffix(".era1")?;
        let mut parts = stem.rsplitn(3, '-');
        let root = parts.next()?;
        let epoch = parts.next()?;
        let network = parts.next()?;
        if network.is_empty() || epoch.len() < 5 || !epoch.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let bytes = data_encoding::HEXLOWER_PERMISSIVE
            .decode(root.as_bytes())
            .ok()?;
        Some(Self {
            network: network.to_string(),
            // An epoch whose blocks do not fit in u64 is not an era1 name (its first block
            // number, `epoch * EPOCH_SIZE`, would overflow where the importer computes it).
            epoch: epoch
                .parse()
                .ok()
                .filter(|&e: &u64| e < u64::MAX / EPOCH_SIZE)?,
            short_root: bytes.try_into().ok()?,
        })
    }

    /// The name for `epoch` of `network` with accumulator root `root`.
    pub fn format(network: &str, epoch: u64, root: &B256) -> String {
        format!(
            "{network}-{epoch:05}-{}.era1",
            data_encoding::HEXLOWER.encode(&root[..4])
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let root = B256::from_slice(&[0x5e, 0xc1, 0xff, 0xb8].repeat(8));
        let name = Era1Name::format("mainnet", 0, &root);
        assert_eq!(name, "mainnet-00000-5ec1ffb8.era1");
        assert_eq!(
            Era1Name::parse(&name),
            Some(Era1Name {
                network: "mainnet".into(),
                epoch: 0,
                short_root: [0x5e, 0xc1, 0xff, 0xb8]
            })
        );
        assert_eq!(
            Era1Name::parse("mainnet-01896-6e1f48b3.era1").map(|n| n.epoch),
            Some(1896)
        );
        for bad in [
            "x.era1",
            "mainnet-0-5ec1ffb8.era1",
            "mainnet-00000-5ec1.era1",
            "mainnet-00000-5ec1ffb8.era",
        ] {
            assert_eq!(Era1Name::parse(bad), None, "{bad}");
        }
    }
}
