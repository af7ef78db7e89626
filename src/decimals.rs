//! Decimals a coordinate carries, as written or as a binary float: the leaf that
//! reading (sniffing a column's form) and profiling (resolution) both build on.

/// Decimals beyond this are noise in any coordinate (≈ 0.1 µm).
pub const MAX_DECIMALS: u8 = 15;

/// Decimals of a binary float: the fewest k with `round(x, k) == x`, which is the
/// number of decimals in its shortest round-trip form (30.100000000000001 → 1).
/// Rounding divides by 10^k exactly, never multiplies by 10^-k (DESIGN §10).
pub fn decimals_f64(x: f64) -> Option<u8> {
    if !x.is_finite() {
        return None;
    }
    let mut scale = 1.0_f64;
    for k in 0..=MAX_DECIMALS {
        if (x * scale).round() / scale == x {
            return Some(k);
        }
        scale *= 10.0;
    }
    Some(MAX_DECIMALS)
}

/// A xorshift generator for the unit tests' random inputs (fixed seeds, so a failure
/// repeats).
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// 1.5 · 2^52: adding and then subtracting it rounds a double of magnitude below 2^51
/// to an integer, ties to even (the default rounding mode), with two additions.
pub(crate) const ROUNDER: f64 = 6_755_399_441_055_744.0;
pub(crate) const EXACT_BELOW: f64 = 2_251_799_813_685_248.0; // 2^51

/// `q.round_ties_even()` without a library call: on baseline x86-64 (SSE2) rounding
/// and `floor` are calls into libm, the largest cost of a per-row kernel. Equal to
/// the standard function for every input (up to the sign of a zero).
#[inline]
pub fn round_even(q: f64) -> f64 {
    if q.abs() < EXACT_BELOW {
        (q + ROUNDER) - ROUNDER
    } else {
        q.round_ties_even()
    }
}

/// `q.floor()` without a library call (see [`round_even`]).
#[inline]
pub fn floor(q: f64) -> f64 {
    if q.abs() < EXACT_BELOW {
        let r = (q + ROUNDER) - ROUNDER;
        if r > q {
            r - 1.0
        } else {
            r
        }
    } else {
        q.floor()
    }
}

/// [`decimals_f64`] over the values of one column, which mostly carry the decimals
/// of the value before (or one fewer: a tenth of 6-decimal values end in a zero). Where
/// `|x| · 10^k < 2^50`, a round trip (`round(x, k) == x`) that holds at k also holds
/// at k + 1, so the decimals are the first k that holds: the count walks from the
/// last value's decimals, down while the round trip still holds one decimal fewer,
/// or up until it holds (two or three round trips for a coordinate, instead of
/// counting up from 0). Everything else goes to `decimals_f64`; a unit test checks
/// the two agree on random columns.
#[derive(Clone, Copy, Debug, Default)]
pub struct Run {
    guess: u8,
}

impl Run {
    pub fn decimals(&mut self, x: f64) -> Option<u8> {
        const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
        const EXACT: f64 = (1u64 << 50) as f64;
        let g = usize::from(self.guess);
        let ax = x.abs();
        // NaN and ±inf fail the bound and go to `decimals_f64`.
        if g < POW10.len() && ax * POW10[g] < EXACT {
            // Ties round to even here, away from zero in `decimals_f64`: a product
            // with a fraction of one half never rounds back to x either way.
            let holds = |k: usize| round_even(x * POW10[k]) / POW10[k] == x;
            let found = if holds(g) {
                let mut k = g;
                while k > 0 && holds(k - 1) {
                    k -= 1;
                }
                Some(k)
            } else {
                (g + 1..POW10.len()).take_while(|&k| ax * POW10[k] < EXACT).find(|&k| holds(k))
            };
            if let Some(k) = found {
                self.guess = k as u8;
                return Some(self.guess);
            }
        }
        let d = decimals_f64(x)?;
        self.guess = d;
        Some(d)
    }

    /// [`Run::decimals`] of every value of a slice into `out` ([`NO_DECIMALS`] for a
    /// value that is not finite), the same counts. Most values of a column carry the
    /// decimals g the run expects, which holds when the round trip holds at g and not
    /// at g − 1: both trips are tested on every value in one loop without a branch,
    /// so that it runs on vector lanes (the walk value by value was a tenth of a 20M-row
    /// profile's samples), and the values that fail go through [`Run::decimals`].
    /// A run's first g is its first value's count, the next slice's g the count most
    /// values of the slice before carried.
    pub fn decimals_of(&mut self, xs: &[f64], out: &mut Vec<u8>) {
        const POW10: [f64; 10] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
        out.clear();
        if self.guess == 0 {
            // A run's first slice: g is the count of its first value.
            if let Some(&x) = xs.first() {
                self.decimals(x);
            }
        }
        let g = usize::from(self.guess);
        out.resize(xs.len(), MISS);
        if g < POW10.len() {
            // At g = 0 there is no count below; the second trip is then not read.
            round_trips(xs, out, g as u8, POW10[g], POW10[g.saturating_sub(1)], g > 0);
        }
        let mut seen = [0u32; MAX_DECIMALS as usize + 1];
        for (d, &x) in out.iter_mut().zip(xs) {
            if *d == MISS {
                *d = self.decimals(x).unwrap_or(NO_DECIMALS);
            }
            if let Some(n) = seen.get_mut(usize::from(*d)) {
                *n += 1;
            }
        }
        if let Some((k, _)) = seen.iter().enumerate().filter(|(_, n)| **n > 0).max_by_key(|(_, n)| **n) {
            self.guess = k as u8;
        }
    }
}

/// What [`Run::decimals_of`] writes for a value that is not finite.
pub const NO_DECIMALS: u8 = u8::MAX;

/// What [`round_trips`] writes for a value that does not carry g decimals.
const MISS: u8 = u8::MAX - 1;

/// `g` into `out` for each value of `xs` whose round trip holds at `p` = 10^g and not
/// at `q` = 10^(g − 1) (when `below`), [`MISS`] for any other. The factors come by
/// value: captured by reference they were loaded again for every value (a store of a
/// `u8` may alias them) and the loop kept to one value at a time.
fn round_trips(xs: &[f64], out: &mut [u8], g: u8, p: f64, q: f64, below: bool) {
    const EXACT: f64 = (1u64 << 50) as f64;
    for (d, &x) in out.iter_mut().zip(xs) {
        // The `round_even` of a product below 2^50 is the two additions; a value
        // whose product is larger is a miss, whatever the additions gave.
        let at_g = ((x * p + ROUNDER) - ROUNDER) / p == x;
        let at_below = ((x * q + ROUNDER) - ROUNDER) / q == x;
        let hit = (x.abs() * p < EXACT) & at_g & !(below & at_below);
        *d = if hit { g } else { MISS };
    }
}

/// A plain decimal number as written (`-30.125`, `+116`, `.5`), with its decimals, in
/// one pass over the bytes; `None` for anything else (exponents, `inf`, more than 15
/// significant digits, degrees–minutes–seconds), which [`decimals_text`] and `str::parse`
/// handle. The value is the integer of its digits divided by 10^decimals: both are
/// exact doubles below 2^53 and 10^22, so the quotient is correctly rounded, the same
/// double `str::parse` gives (a unit test checks this on random text).
pub fn fast_decimal(s: &str) -> Option<(f64, u8)> {
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
        1e20, 1e21, 1e22,
    ];
    // Most values have no space at either end: `trim` (which reads Unicode spaces)
    // is then skipped.
    let bytes = match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s.as_bytes(),
        _ => s.trim().as_bytes(),
    };
    let (negative, digits) = match bytes.first()? {
        b'-' => (true, &bytes[1..]),
        b'+' => (false, &bytes[1..]),
        _ => (false, bytes),
    };
    // The digits before the point and after it as one integer, in loops without a
    // test per digit beyond "is a digit" (wrapping: a text with more than 15
    // significant digits is refused below, whatever its digits wrapped to).
    let (mut mantissa, mut at) = (0u64, 0);
    let mut read_digits = |at: &mut usize| {
        while let Some(d) = digits.get(*at).map(|b| b.wrapping_sub(b'0')).filter(|d| *d <= 9) {
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
            *at += 1;
        }
    };
    read_digits(&mut at);
    let whole = at;
    let mut decimals = 0;
    if digits.get(at) == Some(&b'.') {
        at += 1;
        read_digits(&mut at);
        decimals = at - whole - 1;
    }
    if at != digits.len() || whole + decimals == 0 || decimals > 22 {
        return None;
    }
    // Significant digits: those after the leading zeros (of both parts).
    if whole + decimals > 15 {
        let leading = digits.iter().take_while(|b| matches!(b, b'0' | b'.')).filter(|b| **b == b'0').count();
        if whole + decimals - leading > 15 {
            return None;
        }
    }
    let value = mantissa as f64 / POW10[decimals];
    Some((if negative { -value } else { value }, decimals.min(usize::from(MAX_DECIMALS)) as u8))
}

/// Decimals of a number as written (`45.0` → 1, `1.25e-3` → 5); `None` if not a number.
pub fn decimals_text(s: &str) -> Option<u8> {
    if let Some((_, decimals)) = fast_decimal(s) {
        return Some(decimals);
    }
    let s = s.trim();
    let value: f64 = s.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
    Some((fraction - exponent).clamp(0, i32::from(MAX_DECIMALS)) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_counts_what_decimals_f64_counts() {
        let mut next = super::xorshift(0x9e37_79b9_7f4a_7c15u64);
        let (mut run, mut k) = (Run::default(), 6);
        for _ in 0..500_000 {
            // Runs of one decimals count, with jumps, signs, magnitudes up to 10^7 and
            // values binary floats only approximate.
            if next() % 20 == 0 {
                k = (next() % 12) as i32;
            }
            let magnitude = 10f64.powi((next() % 8) as i32);
            let x = (next() % 1_000_000_000) as f64 / 1e9 * magnitude;
            let x = (x * 10f64.powi(k)).round() / 10f64.powi(k) * if next() % 2 == 0 { 1.0 } else { -1.0 };
            let x = if next() % 50 == 0 { x + f64::EPSILON * x } else { x };
            assert_eq!(run.decimals(x), decimals_f64(x), "{x:?}");
        }
        assert_eq!(run.decimals(f64::NAN), None);
        assert_eq!(run.decimals(f64::INFINITY), None);
    }

    #[test]
    fn a_slice_counts_what_each_value_counts() {
        let mut next = super::xorshift(0x5851_f42d_4c95_7f2du64);
        let mut run = Run::default();
        let mut out = Vec::new();
        for slice in 0..400 {
            // Slices of mostly one count (a tenth of the values end in a zero), a few
            // of mixed counts, signs, magnitudes up to 10^12 and values that are not
            // finite or carry more than the count expected.
            let k = (next() % 12) as i32;
            let xs: Vec<f64> = (0..(next() % 3000) as usize)
                .map(|_| {
                    let k = if slice % 7 == 0 { (next() % 16) as i32 } else { k };
                    let magnitude = 10f64.powi((next() % 13) as i32);
                    let x = (next() % 1_000_000_000) as f64 / 1e9 * magnitude;
                    let x = (x * 10f64.powi(k)).round() / 10f64.powi(k) * if next() % 2 == 0 { 1.0 } else { -1.0 };
                    match next() % 200 {
                        0 => f64::NAN,
                        1 => f64::NEG_INFINITY,
                        2 => x + f64::EPSILON * x,
                        _ => x,
                    }
                })
                .collect();
            run.decimals_of(&xs, &mut out);
            let each: Vec<u8> = xs.iter().map(|&x| decimals_f64(x).unwrap_or(NO_DECIMALS)).collect();
            assert_eq!(out, each, "slice {slice}");
        }
    }

    #[test]
    fn rounding_without_libm_is_the_standard_rounding() {
        let mut next = super::xorshift(0x0123_4567_89ab_cdefu64);
        let special = [
            0.5,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            0.49999999999999994,
            4503599627370495.5,
            2251799813685247.5,
            -2251799813685248.5,
            1e300,
            -1e-300,
            0.0,
            -0.0,
        ];
        let random = (0..1_000_000).map(|_| {
            let scale = 10f64.powi((next() % 36) as i32 - 18);
            let x = (next() as f64 / u64::MAX as f64 - 0.5) * scale;
            if next() % 4 == 0 {
                (x * 2.0).round() / 2.0
            } else {
                x
            }
        });
        for q in special.into_iter().chain(random) {
            assert_eq!(round_even(q), q.round_ties_even(), "{q:?}");
            assert_eq!(floor(q), q.floor(), "{q:?}");
        }
        assert!(round_even(f64::NAN).is_nan() && floor(f64::INFINITY) == f64::INFINITY);
    }
}
