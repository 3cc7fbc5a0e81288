//! Field checks for intake and commands, naming the field the client sent.

use crate::error::DomainError;

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest appeal body accepted, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Longest note, reason, reply or comment accepted, in characters.
pub const MAX_NOTE_CHARS: usize = 10_000;
const MAX_NAME_CHARS: usize = 64;
const MAX_PHONE_CHARS: usize = 20;
const MAX_ADDRESS_CHARS: usize = 500;

fn invalid(field: &'static str, reason: impl Into<String>) -> DomainError {
    DomainError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// Checks a text that must not be blank and has a maximum length.
pub(crate) fn required_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), DomainError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    optional_text(field, value, max)
}

/// Checks a text that may be empty but has a maximum length.
pub(crate) fn optional_text(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), DomainError> {
    let len = value.chars().count();
    if len > max {
        return Err(invalid(
            field,
            format!("is {len} characters, at most {max} allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(())
}

/// Checks a citizen's name.
pub(crate) fn name(value: &str) -> Result<(), DomainError> {
    optional_text("citizen.name", value, MAX_NAME_CHARS)
}

/// Checks a phone number: digits with an optional leading `+` and `-` separators.
pub(crate) fn phone(value: &str) -> Result<(), DomainError> {
    if value.is_empty() {
        return Ok(());
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let well_formed = value
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || c == '-' || (c == '+' && i == 0));
    if !well_formed || !(3..=MAX_PHONE_CHARS).contains(&digits) || value.len() > MAX_PHONE_CHARS {
        return Err(invalid(
            "citizen.phone",
            "must be 3 to 20 digits, optionally with + and -",
        ));
    }
    Ok(())
}

/// Checks an address.
pub(crate) fn address(value: &str) -> Result<(), DomainError> {
    optional_text("address", value, MAX_ADDRESS_CHARS)
}

/// Checks an administrative region code: empty, or 6, 9 or 12 digits.
pub(crate) fn region_code(value: &str) -> Result<(), DomainError> {
    if value.is_empty()
        || (matches!(value.len(), 6 | 9 | 12) && value.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(invalid("region_code", "must be 6, 9 or 12 digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_accepts_mobile_and_landline_forms() {
        assert!(phone("13812345678").is_ok());
        assert!(phone("+86-512-65220000").is_ok());
        assert!(phone("").is_ok());
        assert!(phone("12a45").is_err());
        assert!(phone("1-+2").is_err());
        assert!(phone("123456789012345678901").is_err());
    }

    #[test]
    fn text_length_counts_characters_not_bytes() {
        let chinese = "噪".repeat(MAX_TITLE_CHARS);
        assert!(required_text("title", &chinese, MAX_TITLE_CHARS).is_ok());
        assert!(required_text("title", &format!("{chinese}噪"), MAX_TITLE_CHARS).is_err());
        assert!(required_text("title", "  \n", MAX_TITLE_CHARS).is_err());
        assert!(optional_text("body", "a\u{0}b", 10).is_err());
    }

    #[test]
    fn region_codes_have_admin_lengths() {
        for ok in ["", "320506", "320506001", "320506001001"] {
            assert!(region_code(ok).is_ok(), "{ok}");
        }
        for bad in ["32050", "3205060011", "32050a"] {
            assert!(region_code(bad).is_err(), "{bad}");
        }
    }
}
