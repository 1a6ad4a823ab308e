//! The fleet table's answers (docs/fleet-table.md, "Memory"): what it keeps of each machine's
//! two views, and the whole answers made from that when a row is read.
//!
//! The table keeps each view's encoded fields less the three portal links and the tenant
//! (about 900 bytes a machine over the two views), and adds them back per read: they are
//! appended after the kept fields, which protobuf defines as the same message (a field's
//! position in the encoding carries no meaning). The links of a 40-hex machine id come from a
//! template made once, so a read costs two small copies rather than URL building.

use std::sync::OnceLock;

use bytes::{BufMut, BytesMut};
use prost::Message;
use url::Url;

use super::{grpc_raw, responses, views};
use crate::fleet::{AnswerCore, AnswerEncoder};
use crate::proto;
use crate::risk::Assessment;
use crate::risk::assess::{RenderedAnswer, portal_links};

/// Stands for the machine id in the link templates (hex: needs no percent-encoding, as a
/// real id does not).
const PLACEHOLDER: &str = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";

/// The table's encoder, for the configured portal.
#[derive(Debug)]
pub struct TablePortalEncoder {
    portal: Url,
    /// (tenant, each link split around the id) for the first tenant asked.
    templates: OnceLock<(String, [(String, String); 3])>,
}

impl TablePortalEncoder {
    /// The encoder of answers with links into `portal`.
    pub fn new(portal: Url) -> Self {
        Self {
            portal,
            templates: OnceLock::new(),
        }
    }

    fn links(&self, machine_id: &str, tenant: &str) -> proto::PortalLinks {
        let hex = machine_id.len() == PLACEHOLDER.len()
            && machine_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if hex {
            let (for_tenant, [o, v, a]) = self.templates.get_or_init(|| {
                let l = portal_links(&self.portal, tenant, PLACEHOLDER);
                let split = |url: String| match url.split_once(PLACEHOLDER) {
                    Some((before, after)) => (before.to_string(), after.to_string()),
                    // Never for a hex placeholder; an empty template then matches no tenant.
                    None => (String::new(), String::new()),
                };
                let parts = [
                    split(l.overview_url),
                    split(l.vulnerabilities_url),
                    split(l.alerts_url),
                ];
                let usable = parts.iter().all(|(before, _)| !before.is_empty());
                (
                    if usable {
                        tenant.to_string()
                    } else {
                        String::new()
                    },
                    parts,
                )
            });
            if for_tenant == tenant && !for_tenant.is_empty() {
                let url = |(before, after): &(String, String)| {
                    let mut s =
                        String::with_capacity(before.len() + machine_id.len() + after.len());
                    s.push_str(before);
                    s.push_str(machine_id);
                    s.push_str(after);
                    s
                };
                return proto::PortalLinks {
                    overview_url: url(o),
                    vulnerabilities_url: url(v),
                    alerts_url: url(a),
                };
            }
        }
        let l = portal_links(&self.portal, tenant, machine_id);
        proto::PortalLinks {
            overview_url: l.overview_url,
            vulnerabilities_url: l.vulnerabilities_url,
            alerts_url: l.alerts_url,
        }
    }
}

impl AnswerEncoder for TablePortalEncoder {
    fn core(&self, a: &Assessment) -> Option<AnswerCore> {
        let mut full = responses::render(a, &self.portal);
        let mut basic = views::basic(a);
        for view in [&mut full, &mut basic] {
            view.links = None;
            view.tenant.clear();
        }
        Some(AnswerCore {
            full: full.encode_to_vec().into(),
            basic: basic.encode_to_vec().into(),
        })
    }

    fn answers(
        &self,
        core: &AnswerCore,
        machine_id: &str,
        tenant: &str,
    ) -> Option<(RenderedAnswer, RenderedAnswer)> {
        let added = proto::EndpointRisk {
            links: Some(self.links(machine_id, tenant)),
            tenant: tenant.to_string(),
            ..Default::default()
        };
        let hit = proto::EndpointRisk {
            cached: true,
            ..Default::default()
        };
        // The appended fields, then `cached`, encoded once for both views.
        let mut tail = Vec::with_capacity(added.encoded_len() + hit.encoded_len());
        added.encode(&mut tail).ok()?;
        let added_len = tail.len();
        hit.encode(&mut tail).ok()?;
        let frame = |kept: &[u8]| grpc_raw::PREFIX_LEN + kept.len() + tail.len();
        let full_frame = frame(&core.full);
        let mut buf = BytesMut::with_capacity(full_frame + frame(&core.basic));
        for kept in [&core.full, &core.basic] {
            grpc_raw::put_prefix(&mut buf, kept.len() + tail.len()).ok()?;
            buf.put_slice(kept);
            buf.put_slice(&tail);
        }
        let both = buf.freeze();
        Some((
            RenderedAnswer {
                hit_frame: both.slice(..full_frame),
                fields_len: core.full.len() + added_len,
            },
            RenderedAnswer {
                hit_frame: both.slice(full_frame..),
                fields_len: core.basic.len() + added_len,
            },
        ))
    }
}
