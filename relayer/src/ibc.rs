//! Typed IBC identifiers, heights and the packet model shared by every chain backend.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IdError {
    #[error("{kind} must not be empty")]
    Empty { kind: &'static str },
    #[error("{kind} `{value}` is longer than {max} characters")]
    TooLong {
        kind: &'static str,
        value: String,
        max: usize,
    },
    #[error("{kind} `{value}` contains `{ch}`; allowed are letters, digits and . _ + - # [ ] < >")]
    BadChar {
        kind: &'static str,
        value: String,
        ch: char,
    },
}

fn validate(kind: &'static str, value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > max {
        return Err(IdError::TooLong {
            kind,
            value: value.into(),
            max,
        });
    }
    // ICS-24 identifier alphabet.
    if let Some(ch) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._+-#[]<>".contains(*c)))
    {
        return Err(IdError::BadChar {
            kind,
            value: value.into(),
            ch,
        });
    }
    Ok(())
}

macro_rules! identifier {
    ($name:ident, $kind:literal, $max:expr) => {
        #[doc = concat!("A validated ", $kind, ".")]
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                validate($kind, &value, $max)?;
                Ok(Self(value))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
}

identifier!(ChainId, "chain id", 64);
identifier!(ClientId, "client id", 64);
identifier!(ConnectionId, "connection id", 64);
identifier!(ChannelId, "channel id", 64);
identifier!(PortId, "port id", 128);

impl ChainId {
    /// The revision number encoded as `{name}-{N}`; 0 when the id has no such suffix.
    pub fn revision_number(&self) -> u64 {
        self.0
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    }
}

impl ChannelId {
    pub fn sequence(&self) -> Option<u64> {
        self.0.strip_prefix("channel-")?.parse().ok()
    }
}

/// An IBC height: revision number and height within the revision.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Height {
    pub revision_number: u64,
    pub revision_height: u64,
}

impl Height {
    pub fn new(revision_number: u64, revision_height: u64) -> Self {
        Height {
            revision_number,
            revision_height,
        }
    }
    pub fn is_zero(&self) -> bool {
        self.revision_number == 0 && self.revision_height == 0
    }
    pub fn with_height(self, revision_height: u64) -> Self {
        Height {
            revision_height,
            ..self
        }
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.revision_number, self.revision_height)
    }
}

impl FromStr for Height {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (r, h) = s
            .split_once('-')
            .ok_or_else(|| format!("height `{s}` is not REVISION-HEIGHT"))?;
        Ok(Height {
            revision_number: r
                .parse()
                .map_err(|_| format!("bad revision in height `{s}`"))?,
            revision_height: h.parse().map_err(|_| format!("bad height in `{s}`"))?,
        })
    }
}

/// An IBC packet, independent of the chain family that carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    pub sequence: u64,
    pub source_port: PortId,
    pub source_channel: ChannelId,
    pub destination_port: PortId,
    pub destination_channel: ChannelId,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
    pub timeout_height: Height,
    /// Nanoseconds since the Unix epoch; 0 for none.
    pub timeout_timestamp: u64,
    /// IBC v2 payload version and encoding, part of the v2 commitment; empty for classic packets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub encoding: String,
}

impl Packet {
    /// True when the packet can no longer be received at the given destination height and time.
    pub fn timed_out(&self, dst_height: Height, dst_time_ns: u64) -> bool {
        let by_height = !self.timeout_height.is_zero() && dst_height >= self.timeout_height;
        let by_time = self.timeout_timestamp != 0 && dst_time_ns >= self.timeout_timestamp;
        by_height || by_time
    }
}

/// A packet lifecycle event read from a chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PacketEventKind {
    Send,
    WriteAck { ack: Vec<u8> },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketEvent {
    pub kind: PacketEventKind,
    pub packet: Packet,
    /// Height of the block that emitted the event.
    pub height: u64,
}

pub mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated() {
        assert!(ChannelId::new("channel-0").is_ok());
        assert_eq!(
            ChannelId::new("").unwrap_err(),
            IdError::Empty { kind: "channel id" }
        );
        assert!(matches!(
            PortId::new("trans fer"),
            Err(IdError::BadChar { ch: ' ', .. })
        ));
        assert_eq!(ChainId::new("l3-appchain-1").unwrap().revision_number(), 1);
        assert_eq!(ChainId::new("devnet").unwrap().revision_number(), 0);
    }

    #[test]
    fn heights_order_and_parse() {
        assert!(Height::new(1, 10) < Height::new(1, 11));
        assert!(Height::new(1, 99) < Height::new(2, 1));
        assert_eq!("1-42".parse::<Height>().unwrap(), Height::new(1, 42));
        assert!("42".parse::<Height>().is_err());
    }

    #[test]
    fn timeout_by_height_or_time() {
        let p = Packet {
            sequence: 1,
            source_port: PortId::new("transfer").unwrap(),
            source_channel: ChannelId::new("channel-0").unwrap(),
            destination_port: PortId::new("transfer").unwrap(),
            destination_channel: ChannelId::new("channel-1").unwrap(),
            data: vec![],
            timeout_height: Height::new(1, 100),
            timeout_timestamp: 5_000,
            version: String::new(),
            encoding: String::new(),
        };
        assert!(!p.timed_out(Height::new(1, 99), 4_999));
        assert!(p.timed_out(Height::new(1, 100), 0));
        assert!(p.timed_out(Height::new(1, 1), 5_000));
    }
}
