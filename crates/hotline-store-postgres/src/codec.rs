//! Conversions between domain values and what the PostgreSQL columns hold: instants as
//! bigint nanoseconds (as on SQLite, so both backends order and page alike), ticket ids
//! as `uuid`, documents as JSON text, enums as their text codes, and the opaque page
//! tokens of the listings.

use hotline_core::{Calendar, DomainError, Event, Ticket, TicketId};
use hotline_store::{StoreError, StoredEvent};
use jiff::Timestamp;
use uuid::Uuid;

use crate::error::corrupt;

/// Returns an instant as nanoseconds since the epoch, saturated to the `i64` range
/// (years 1677 to 2262), so ordering is kept and nothing overflows.
pub(crate) fn nanos(at: Timestamp) -> i64 {
    let ns = at.as_nanosecond();
    i64::try_from(ns).unwrap_or(if ns < 0 { i64::MIN } else { i64::MAX })
}

/// Reads an instant stored by [`nanos`].
pub(crate) fn from_nanos(ns: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(ns))
        .map_err(|e| corrupt(format_args!("instant {ns}: {e}")))
}

/// Converts a count the domain keeps as `u64` into a `bigint`.
pub(crate) fn int(value: u64, what: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Internal(anyhow::anyhow!("{what} {value} is too large")))
}

/// Serializes a document for a JSON column.
pub(crate) fn to_json<T: serde::Serialize>(
    value: &T,
    what: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| {
        StoreError::Internal(anyhow::Error::new(e).context(format!("encoding {what}")))
    })
}

/// Reads a ticket projection.
pub(crate) fn ticket_from_json(json: &str) -> Result<Ticket, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt(format_args!("ticket projection: {e}")))
}

/// Reads a stored event with its global id.
pub(crate) fn event_from_json(id: i64, json: &str) -> Result<StoredEvent, StoreError> {
    let event: Event =
        serde_json::from_str(json).map_err(|e| corrupt(format_args!("event {id}: {e}")))?;
    Ok(StoredEvent { id, event })
}

/// The values of a ticket row's indexed columns, derived from its projection.
#[derive(Debug)]
pub(crate) struct TicketColumns {
    pub id: Uuid,
    pub number: String,
    pub status: &'static str,
    pub version: i64,
    pub lead_department_id: Option<String>,
    pub region_code: String,
    pub category_path: Option<String>,
    pub phone: String,
    pub address: String,
    pub title: String,
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub deadline_kind: Option<&'static str>,
    pub deadline_at: Option<i64>,
    pub warning_level: &'static str,
    pub next_check_at: Option<i64>,
    pub projection: String,
}

impl TicketColumns {
    /// Derives the columns from a ticket: the deadline is its running deadline, the
    /// next check comes from the sweep rules on `calendar`.
    pub(crate) fn of(ticket: &Ticket, calendar: &dyn Calendar) -> Result<Self, StoreError> {
        Self::with_next_check(ticket, ticket.next_check_at(calendar).map(nanos))
    }

    /// Like [`TicketColumns::of`], with the next check already worked out (nanoseconds).
    pub(crate) fn with_next_check(
        ticket: &Ticket,
        next_check_at: Option<i64>,
    ) -> Result<Self, StoreError> {
        let deadline = ticket.running_deadline();
        Ok(Self {
            id: ticket.id.0,
            number: ticket.number.clone(),
            status: ticket.status.as_str(),
            version: int(ticket.version, "ticket version")?,
            lead_department_id: ticket.lead_department_id.as_ref().map(|d| d.0.clone()),
            region_code: ticket.region_code.clone(),
            category_path: ticket.category.as_ref().map(|c| c.path.clone()),
            phone: ticket.citizen.phone.clone(),
            address: ticket.address.clone(),
            title: ticket.title.clone(),
            body: ticket.body.clone(),
            created_at: nanos(ticket.created_at),
            updated_at: nanos(ticket.updated_at),
            deadline_kind: deadline.map(|(kind, _)| kind.as_str()),
            deadline_at: deadline.map(|(_, at)| nanos(at)),
            warning_level: ticket.warning_level.as_str(),
            next_check_at,
            projection: to_json(ticket, "ticket projection")?,
        })
    }
}

impl TicketColumns {
    /// The columns `hotline check` compares with the stored row.
    pub(crate) fn indexed(&self) -> hotline_store::check::IndexedColumns {
        hotline_store::check::IndexedColumns {
            status: self.status.to_owned(),
            version: self.version,
            lead_department_id: self.lead_department_id.clone(),
            deadline_kind: self.deadline_kind.map(str::to_owned),
            deadline_at: self.deadline_at,
            warning_level: self.warning_level.to_owned(),
            next_check_at: self.next_check_at,
        }
    }
}

/// Which listing a page token belongs to; a token from one listing is refused by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    /// `list_tickets`: the last row's `(created_at, id)`.
    Tickets,
    /// `list_deadlines`: the last row's `(deadline_at, id)`.
    Deadlines,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::Tickets => "t1",
            Listing::Deadlines => "d1",
        }
    }
}

/// The sort key of the last row of a page: where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// The instant column the listing sorts on, as stored.
    pub at: i64,
    /// The ticket id, breaking ties.
    pub id: Uuid,
}

/// Encodes a cursor as an opaque token (hex of `tag:at:id`).
pub(crate) fn encode_token(listing: Listing, cursor: &Cursor) -> String {
    hex::encode(format!("{}:{}:{}", listing.tag(), cursor.at, cursor.id))
}

/// Decodes a token made by [`encode_token`] for the same listing.
///
/// # Errors
/// [`StoreError::Rejected`] naming `page_token` when it is not such a token.
pub(crate) fn decode_token(listing: Listing, token: &str) -> Result<Cursor, StoreError> {
    let bad = || {
        StoreError::Rejected(DomainError::InvalidField {
            field: "page_token",
            reason: "is not a token returned by this listing".to_owned(),
        })
    };
    let bytes = hex::decode(token).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(3, ':');
    let (Some(tag), Some(at), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    if tag != listing.tag() {
        return Err(bad());
    }
    let at: i64 = at.parse().map_err(|_| bad())?;
    let id: TicketId = id.parse().map_err(|_| bad())?;
    Ok(Cursor { at, id: id.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_listing() {
        let cursor = Cursor {
            at: -5,
            id: "01890a5d-ac96-774b-bcce-b302099a8057"
                .parse()
                .expect("uuid"),
        };
        let token = encode_token(Listing::Tickets, &cursor);
        assert_eq!(decode_token(Listing::Tickets, &token).ok(), Some(cursor));
        assert!(decode_token(Listing::Deadlines, &token).is_err());
        let not_a_number = hex::encode("t1:x:01890a5d-ac96-774b-bcce-b302099a8057");
        let not_an_id = hex::encode("t1:1:not-a-uuid");
        for bad in ["", "zz", "7431", not_a_number.as_str(), not_an_id.as_str()] {
            assert!(
                matches!(
                    decode_token(Listing::Tickets, bad),
                    Err(StoreError::Rejected(DomainError::InvalidField {
                        field: "page_token",
                        ..
                    }))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn instants_saturate_instead_of_overflowing() {
        assert_eq!(nanos(Timestamp::MAX), i64::MAX);
        assert_eq!(nanos(Timestamp::MIN), i64::MIN);
        let at: Timestamp = "2026-03-02T01:00:00.123456789Z".parse().expect("instant");
        assert_eq!(from_nanos(nanos(at)).ok(), Some(at));
    }
}
