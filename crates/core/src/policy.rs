//! Password strength policy shared by every front-end: zxcvbn score 3 or better.

use zxcvbn::Score;

/// Why a password was judged too weak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakPassword {
    /// zxcvbn score, 0 (worst) to 4.
    pub score: u8,
    /// A one-line reason a user can act on.
    pub reason: String,
}

impl std::fmt::Display for WeakPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "password too weak (strength {}/4, need 3): {}",
            self.score, self.reason
        )
    }
}

/// The minimum zxcvbn score accepted without `--allow-weak-password`.
pub const MIN_SCORE: u8 = 3;

/// Judge a password; `context` holds words an attacker would try first (the container's file
/// name, say).
pub fn check_password_strength(password: &str, context: &[&str]) -> Result<(), WeakPassword> {
    let entropy = zxcvbn::zxcvbn(password, context);
    let score = match entropy.score() {
        Score::Zero => 0,
        Score::One => 1,
        Score::Two => 2,
        Score::Three => 3,
        _ => 4,
    };
    if score >= MIN_SCORE {
        return Ok(());
    }
    let mut reason = match entropy.feedback().and_then(|f| f.warning()) {
        // zxcvbn's warnings end with a full stop; ours continue the sentence.
        Some(warning) => warning.to_string().trim_end_matches('.').to_owned(),
        None => "it would be guessed too quickly".to_string(),
    };
    if let Some(suggestion) = entropy.feedback().and_then(|f| f.suggestions().first()) {
        reason.push_str("; ");
        reason.push_str(suggestion.to_string().trim_end_matches('.'));
    }
    Err(WeakPassword { score, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_weak_passwords_are_refused_with_a_reason() {
        for weak in [
            "password",
            "Password1",
            "12345678",
            "michael1987",
            "Jennifer2019",
            "qwertyuiop",
            "",
        ] {
            let err = check_password_strength(weak, &[]).expect_err(weak);
            assert!(err.score < 3, "{weak}");
            assert!(!err.reason.is_empty(), "{weak}");
        }
    }

    #[test]
    fn container_name_counts_as_a_guessable_word() {
        assert!(check_password_strength("TimeAcct2024", &["TimeAcct"]).is_err());
    }

    #[test]
    fn long_random_passphrases_are_accepted() {
        for strong in [
            "correct horse battery staple",
            "vN3#qL9!xT2@pR7s",
            "clinic-umbrella-violet-tractor-42",
        ] {
            check_password_strength(strong, &[]).expect(strong);
        }
    }
}
