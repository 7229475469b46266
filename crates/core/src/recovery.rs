//! The printable form of a recovery key: 256 bits written as 13 groups of 5 characters,
//! each group 4 data characters and 1 check character, so that a mistyped group is named
//! before any key derivation is tried.
//!
//! ```text
//! 0A1B2-C3D4E-...   (13 groups, "-" between them; 65 characters without the dashes)
//! ```
//!
//! * Alphabet: Crockford's base 32, `0123456789ABCDEFGHJKMNPQRSTVWXYZ` (no I, L, O, U, so
//!   nothing looks alike). Reading is case-insensitive, ignores dashes and spaces, and takes
//!   `O` as `0` and `I`, `L` as `1`, as Crockford specifies.
//! * Data: the 32 key bytes, most significant bit first, then 4 zero bits (260 bits = 52
//!   characters of 5 bits), 4 characters per group.
//! * Check character of group *g* (0-based) with data values v0..v3: in GF(32) (polynomial
//!   x⁵ + x² + 1, α = x), `c = α¹·v0 + α²·v1 + α³·v2 + α⁴·v3 + α⁵·(g + 1)`. Distinct non-zero
//!   weights in a field mean that any single wrong character and any swap of two different
//!   neighbouring characters in a group change `c`, and so does a group typed in another
//!   group's place (the `g + 1` term). Tests check all three exhaustively.
//!
//! This is an error-detecting code for typing, not cryptography: the key itself is 256 random
//! bits and the keyslot's authenticated wrap is what decides whether it is the right key.

use std::fmt;

use zeroize::Zeroizing;

use crate::credential::RecoveryKey;

/// The 32 symbols, value = index.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Number of groups.
pub const GROUPS: usize = 13;
const DATA_PER_GROUP: usize = 4;
const GROUP_LEN: usize = DATA_PER_GROUP + 1;
/// Characters of a recovery key without the dashes.
pub const CHARS: usize = GROUPS * GROUP_LEN;

/// Why a typed recovery key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecoveryKeyError {
    /// Not 65 characters (after dashes and spaces are removed).
    #[error(
        "a recovery key has {GROUPS} groups of 5 characters ({CHARS} characters); this one has \
         {found}"
    )]
    WrongLength {
        /// How many characters were found.
        found: usize,
    },
    /// A character outside the alphabet.
    #[error("'{character}' (in group {group}) cannot appear in a recovery key")]
    BadCharacter {
        /// The character.
        character: char,
        /// Its group, counted from 1.
        group: usize,
    },
    /// One or more groups fail their check character.
    #[error("{} of the recovery key {} mistyped (counted from 1); compare {} with the printed key",
        groups_text(.0), if .0.len() == 1 { "is" } else { "are" },
        if .0.len() == 1 { "it" } else { "them" })]
    MistypedGroups(Vec<usize>),
}

fn groups_text(groups: &[usize]) -> String {
    let numbers: Vec<String> = groups.iter().map(ToString::to_string).collect();
    if numbers.len() == 1 {
        format!("group {}", numbers[0])
    } else {
        format!("groups {}", numbers.join(", "))
    }
}

/// Multiplication in GF(32) with the reduction polynomial x⁵ + x² + 1.
fn gf32_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= 0b10_0101;
        }
    }
    product
}

/// α¹..α⁵ for α = x.
const WEIGHTS: [u8; 5] = [2, 4, 8, 16, 5];

fn check_value(group: usize, data: &[u8]) -> u8 {
    debug_assert_eq!(data.len(), DATA_PER_GROUP);
    let mut check = gf32_mul(WEIGHTS[4], (group + 1) as u8);
    for (weight, &value) in WEIGHTS.iter().zip(data) {
        check ^= gf32_mul(*weight, value);
    }
    check
}

/// The 52 five-bit values of the key (with 4 zero bits at the end).
fn to_values(key: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    let mut values = Zeroizing::new(Vec::with_capacity(GROUPS * DATA_PER_GROUP));
    for index in 0..GROUPS * DATA_PER_GROUP {
        let mut value = 0u8;
        for bit in index * 5..index * 5 + 5 {
            let set = bit < 256 && key[bit / 8] & (0x80 >> (bit % 8)) != 0;
            value = (value << 1) | u8::from(set);
        }
        values.push(value);
    }
    values
}

/// The printable form of `key`: 13 groups of 5 characters joined by dashes.
pub fn encode(key: &RecoveryKey) -> Zeroizing<String> {
    let values = to_values(key.expose());
    let mut text = Zeroizing::new(String::with_capacity(CHARS + GROUPS - 1));
    for (group, data) in values.chunks(DATA_PER_GROUP).enumerate() {
        if group > 0 {
            text.push('-');
        }
        for &value in data {
            text.push(char::from(ALPHABET[usize::from(value)]));
        }
        text.push(char::from(ALPHABET[usize::from(check_value(group, data))]));
    }
    text
}

fn symbol_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&symbol| char::from(symbol) == c)
        .map(|index| index as u8)
}

/// Read a recovery key typed by a person (or saved to a file): case-insensitive, dashes and
/// white space ignored. Every group's check character is verified before anything else.
pub fn parse(text: &str) -> Result<RecoveryKey, RecoveryKeyError> {
    let chars: Zeroizing<Vec<char>> = Zeroizing::new(
        text.chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect(),
    );
    if chars.len() != CHARS {
        return Err(RecoveryKeyError::WrongLength { found: chars.len() });
    }
    let mut values = Zeroizing::new(Vec::with_capacity(CHARS));
    for (index, &c) in chars.iter().enumerate() {
        let value = symbol_value(c).ok_or(RecoveryKeyError::BadCharacter {
            character: c,
            group: index / GROUP_LEN + 1,
        })?;
        values.push(value);
    }
    let mut mistyped = Vec::new();
    for (group, chunk) in values.chunks(GROUP_LEN).enumerate() {
        if check_value(group, &chunk[..DATA_PER_GROUP]) != chunk[DATA_PER_GROUP] {
            mistyped.push(group + 1);
        }
    }
    // The 4 padding bits must be zero: a wrong last group that happens to pass its check.
    let last = values[CHARS - 2];
    if mistyped.is_empty() && last & 0x0f != 0 {
        mistyped.push(GROUPS);
    }
    if !mistyped.is_empty() {
        return Err(RecoveryKeyError::MistypedGroups(mistyped));
    }
    let mut key = Zeroizing::new([0u8; 32]);
    let data = values
        .chunks(GROUP_LEN)
        .flat_map(|chunk| chunk[..DATA_PER_GROUP].iter().copied());
    for (index, value) in data.enumerate() {
        for offset in 0..5 {
            let bit = index * 5 + offset;
            if bit < 256 && value & (0x10 >> offset) != 0 {
                key[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
    }
    Ok(RecoveryKey::from_bytes(&mut key))
}

/// A recovery key's printable form, shown without the key in `Debug`.
pub struct Printable(Zeroizing<String>);

impl Printable {
    /// The printable form of `key`.
    pub fn of(key: &RecoveryKey) -> Printable {
        Printable(encode(key))
    }

    /// The text, for showing it to the person once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Printable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Printable([redacted recovery key])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RecoveryKey {
        let mut bytes: [u8; 32] = std::array::from_fn(|i| i as u8);
        RecoveryKey::from_bytes(&mut bytes)
    }

    #[test]
    fn printable_form_matches_known_answer_and_round_trips() {
        let text = encode(&sample());
        assert_eq!(text.as_str(), crate::kat::RECOVERY_KEY_PRINTABLE);
        assert_eq!(parse(&text).unwrap().expose(), sample().expose());
        for _ in 0..50 {
            let key = RecoveryKey::generate();
            assert_eq!(parse(&encode(&key)).unwrap().expose(), key.expose());
        }
    }

    #[test]
    fn lowercase_spaces_and_look_alike_letters_are_accepted() {
        let text = encode(&sample());
        let sloppy = text
            .to_lowercase()
            .replace('-', " ")
            .replace('0', "o")
            .replace('1', "l");
        assert_eq!(parse(&sloppy).unwrap().expose(), sample().expose());
    }

    #[test]
    fn every_single_wrong_character_is_caught_and_its_group_named() {
        let text: Vec<char> = encode(&RecoveryKey::generate())
            .chars()
            .filter(|&c| c != '-')
            .collect();
        for position in 0..CHARS {
            for &symbol in ALPHABET {
                let symbol = char::from(symbol);
                if symbol == text[position] {
                    continue;
                }
                let mut typed = text.clone();
                typed[position] = symbol;
                let typed: String = typed.into_iter().collect();
                assert_eq!(
                    parse(&typed).unwrap_err(),
                    RecoveryKeyError::MistypedGroups(vec![position / GROUP_LEN + 1]),
                    "{symbol} at {position}"
                );
            }
        }
    }

    #[test]
    fn every_swap_of_two_different_neighbours_in_a_group_is_caught() {
        for _ in 0..20 {
            let text: Vec<char> = encode(&RecoveryKey::generate())
                .chars()
                .filter(|&c| c != '-')
                .collect();
            for group in 0..GROUPS {
                for i in 0..GROUP_LEN - 1 {
                    let (a, b) = (group * GROUP_LEN + i, group * GROUP_LEN + i + 1);
                    if text[a] == text[b] {
                        continue;
                    }
                    let mut typed = text.clone();
                    typed.swap(a, b);
                    let typed: String = typed.into_iter().collect();
                    assert!(parse(&typed).is_err(), "swap {a}/{b}");
                }
            }
        }
    }

    #[test]
    fn groups_typed_in_the_wrong_order_are_caught() {
        let text = encode(&sample());
        let mut groups: Vec<&str> = text.split('-').collect();
        groups.swap(2, 5);
        let err = parse(&groups.join("-")).unwrap_err();
        assert_eq!(err, RecoveryKeyError::MistypedGroups(vec![3, 6]));
        assert_eq!(
            err.to_string(),
            "groups 3, 6 of the recovery key are mistyped (counted from 1); compare them with \
             the printed key"
        );
    }

    #[test]
    fn wrong_lengths_and_foreign_characters_are_named() {
        let text = encode(&sample());
        assert_eq!(
            parse(&text[..text.len() - 6]).unwrap_err(),
            RecoveryKeyError::WrongLength { found: 60 }
        );
        let bad = text.replacen(&text[6..7], "U", 1);
        assert!(matches!(
            parse(&bad).unwrap_err(),
            RecoveryKeyError::BadCharacter { character: 'U', .. }
        ));
    }

    #[test]
    fn gf32_weights_are_distinct_powers_of_x() {
        let mut power = 1u8;
        for weight in WEIGHTS {
            power = gf32_mul(power, 2);
            assert_eq!(power, weight);
        }
        // x is primitive: its powers run through all 31 non-zero elements.
        let mut seen = std::collections::BTreeSet::new();
        let mut p = 1u8;
        for _ in 0..31 {
            seen.insert(p);
            p = gf32_mul(p, 2);
        }
        assert_eq!(seen.len(), 31);
    }
}
