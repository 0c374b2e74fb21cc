//! Which packs a repack rolls up: the small ones, so that the packs left form a geometric
//! progression (each at least `factor` times the size of all smaller ones together), as git's
//! `repack --geometric` chooses. Pure; no IO.

use swiftgit_repo::PackId;

/// The packs of `sizes` (pack, bytes) to combine into one so that the remaining packs and the
/// new one form a progression of `factor` (at least 2). Fewer than two packs to combine: none.
pub fn geometric(sizes: &[(PackId, u64)], factor: u64) -> Vec<PackId> {
    let factor = factor.max(2);
    let mut sorted = sizes.to_vec();
    sorted.sort_by_key(|&(pack, bytes)| (bytes, pack));
    // The largest pack that breaks the progression: everything up to it is rolled up.
    let mut split = 0;
    for i in (1..sorted.len()).rev() {
        if sorted[i].1 < sorted[i - 1].1.saturating_mul(factor) {
            split = i + 1;
            break;
        }
    }
    // The rolled-up pack may itself break the progression with the next ones: take them too.
    let mut total: u64 = sorted[..split].iter().map(|&(_, bytes)| bytes).sum();
    while split < sorted.len() && sorted[split].1 < total.saturating_mul(factor) {
        total = total.saturating_add(sorted[split].1);
        split += 1;
    }
    if split < 2 {
        return Vec::new();
    }
    sorted[..split].iter().map(|&(pack, _)| pack).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use swiftgit_repo::ObjectId;

    fn packs(sizes: &[u64]) -> Vec<(PackId, u64)> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &bytes)| {
                let mut raw = [0u8; 20];
                raw[0] = i as u8 + 1;
                (PackId(ObjectId::from_bytes_or_panic(&raw)), bytes)
            })
            .collect()
    }

    fn rolled(sizes: &[u64]) -> Vec<u64> {
        let all = packs(sizes);
        let mut chosen: Vec<u64> = geometric(&all, 2)
            .iter()
            .map(|id| {
                all.iter()
                    .find(|(p, _)| p == id)
                    .expect("holds: chosen from all")
                    .1
            })
            .collect();
        chosen.sort();
        chosen
    }

    #[test]
    fn a_progression_is_left_alone() {
        assert!(rolled(&[1, 2, 4, 8, 16]).is_empty());
        assert!(rolled(&[100]).is_empty());
        assert!(rolled(&[]).is_empty());
    }

    #[test]
    fn many_small_packs_are_rolled_up_under_a_big_one() {
        assert_eq!(rolled(&[1000, 1, 1, 1, 1]), vec![1, 1, 1, 1]);
    }

    #[test]
    fn the_rolled_up_pack_takes_the_next_ones_it_would_outgrow() {
        // 1+1+1+1 = 4, which is not half of 6: the 6 joins; 10 is not half of 100.
        assert_eq!(rolled(&[100, 6, 1, 1, 1, 1]), vec![1, 1, 1, 1, 6]);
    }

    #[test]
    fn equal_packs_are_all_rolled_up() {
        assert_eq!(rolled(&[5, 5, 5]), vec![5, 5, 5]);
    }
}
