//! Where a step's file or directory is: on the deploying machine (a plain
//! path) or on the host the step runs on (`{ host = "/code/app" }`), read
//! through that host's Target when the step runs.

use deploy_core::text::Text;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// A path here, or on the step's host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// On the deploying machine.
    Here(Text),
    /// On the host the step runs on.
    Host(Text),
}

impl<'de> serde::Deserialize<'de> for Place {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Place, D::Error> {
        struct PlaceVisitor;

        impl<'de> Visitor<'de> for PlaceVisitor {
            type Value = Place;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a path on this machine, or `{ host = \"path on the host\" }`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Place, E> {
                Text::parse(value).map(Place::Here).map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Place, A::Error> {
                let mut host = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "host" || host.is_some() {
                        return Err(de::Error::custom(format!(
                            "unknown key `{key}`: write a path on this machine, or `{{ host = \"path on the host\" }}`"
                        )));
                    }
                    let value: String = map.next_value()?;
                    host = Some(Text::parse(&value).map_err(de::Error::custom)?);
                }
                host.map(Place::Host).ok_or_else(|| {
                    de::Error::custom("`{ host = \"path on the host\" }` needs `host`")
                })
            }
        }

        deserializer.deserialize_any(PlaceVisitor)
    }
}
