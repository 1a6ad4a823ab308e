//! Machine routes: list with `$filter`/paging, get by id (or computer name, as the docs allow),
//! and find-by-IP with Defender's ±15-minute window and 30-day look-back.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use super::fleet::SimMachine;
use super::odata::{FieldType, Filterable, Schema, Value, parse_datetime};
use super::routes::Call;
use super::wire::{self, ApiError, ApiResult, iso, paginate};

/// `$top` maximum for machines.
const MAX_TOP: usize = 10_000;

pub(crate) static MACHINE_SCHEMA: Schema = Schema {
    entity: "Machine",
    fields: &[
        ("computerDnsName", FieldType::Str),
        ("id", FieldType::Str),
        ("version", FieldType::Str),
        ("deviceValue", FieldType::Str),
        ("aadDeviceId", FieldType::Str),
        ("machineTags", FieldType::StrList),
        ("lastSeen", FieldType::Date),
        ("exposureLevel", FieldType::Str),
        ("onboardingStatus", FieldType::Str),
        ("lastIpAddress", FieldType::Str),
        ("healthStatus", FieldType::Str),
        ("osPlatform", FieldType::Str),
        ("riskScore", FieldType::Str),
        ("rbacGroupId", FieldType::Num),
    ],
    unfilterable: &[
        "firstSeen",
        "osProcessor",
        "osBuild",
        "osArchitecture",
        "lastExternalIpAddress",
        "rbacGroupName",
        "isAadJoined",
        "ipAddresses",
        "agentVersion",
        "managedBy",
        "defenderAvStatus",
    ],
};

fn s(v: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(v))
}

fn opt(v: Option<&str>) -> Value<'_> {
    v.map_or(Value::Null, s)
}

impl Filterable for SimMachine {
    fn field(&self, index: usize) -> Value<'_> {
        match index {
            0 => s(&self.computer_dns_name),
            1 => s(&self.id),
            2 => s(self.version),
            3 => s(self.device_value),
            4 => opt(self.aad_device_id.as_deref()),
            5 => Value::List(self.machine_tags.clone()),
            6 => Value::Date(self.last_seen),
            7 => opt(self.exposure_level),
            8 => s("Onboarded"),
            9 => s(&self.last_ip_address),
            10 => s(self.health_status),
            11 => s(self.os_platform),
            12 => opt(self.risk_score),
            13 => Value::Num(f64::from(self.rbac_group_id)),
            _ => Value::Null,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IpDto {
    ip_address: String,
    mac_address: String,
    #[serde(rename = "type")]
    kind: &'static str,
    operational_status: &'static str,
}

/// Defender's Machine entity (field names and order as in `samples/machine.json`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MachineDto<'a> {
    id: &'a str,
    computer_dns_name: &'a str,
    first_seen: String,
    last_seen: String,
    os_platform: &'a str,
    os_processor: &'static str,
    version: &'a str,
    os_build: Option<u32>,
    os_version: Option<&'a str>,
    os_architecture: &'static str,
    last_ip_address: &'a str,
    last_external_ip_address: &'a str,
    agent_version: &'a str,
    health_status: &'a str,
    defender_av_status: &'static str,
    onboarding_status: &'static str,
    device_value: &'a str,
    rbac_group_id: u32,
    rbac_group_name: Option<&'a str>,
    risk_score: Option<&'a str>,
    exposure_level: Option<&'a str>,
    is_aad_joined: bool,
    aad_device_id: Option<&'a str>,
    managed_by: &'static str,
    machine_tags: &'a [&'static str],
    ip_addresses: Vec<IpDto>,
    vm_metadata: Option<()>,
}

pub(crate) fn machine_dto(m: &SimMachine) -> MachineDto<'_> {
    let windows = m.os_platform.starts_with("Windows");
    MachineDto {
        id: &m.id,
        computer_dns_name: &m.computer_dns_name,
        first_seen: iso(m.first_seen),
        last_seen: iso(m.last_seen),
        os_platform: m.os_platform,
        os_processor: "x64",
        version: m.version,
        os_build: m.os_build,
        os_version: None,
        os_architecture: "64-bit",
        last_ip_address: &m.last_ip_address,
        last_external_ip_address: &m.last_external_ip_address,
        agent_version: m.agent_version,
        health_status: m.health_status,
        defender_av_status: if m.health_status == "Active" {
            "Updated"
        } else {
            "NotUpdated"
        },
        onboarding_status: "Onboarded",
        device_value: m.device_value,
        rbac_group_id: m.rbac_group_id,
        rbac_group_name: m.rbac_group_name,
        risk_score: m.risk_score,
        exposure_level: m.exposure_level,
        is_aad_joined: m.aad_device_id.is_some(),
        aad_device_id: m.aad_device_id.as_deref(),
        managed_by: if windows {
            "Intune"
        } else {
            "MicrosoftDefenderForEndpoint"
        },
        machine_tags: &m.machine_tags,
        ip_addresses: m
            .ip_addresses
            .iter()
            .map(|ip| IpDto {
                ip_address: ip.ip_address.to_string(),
                mac_address: format!("{:012X}", ip.mac_address),
                kind: "Ethernet",
                operational_status: "Up",
            })
            .collect(),
        vm_metadata: None,
    }
}

/// The machine for a path id: a device id, or (as the docs allow) a computer name; several
/// machines with that name resolve to the most recently seen.
pub(crate) fn lookup<'f>(c: &'f Call<'_>, id: &str) -> Result<Cow<'f, SimMachine>, ApiError> {
    let fleet = c.fleet();
    let changes = super::lock(&c.shared.changes);
    let found = fleet
        .find(id)
        .filter(|m| !changes.is_hidden(m))
        .or_else(|| {
            fleet
                .machines()
                .iter()
                .filter(|m| {
                    !m.computer_dns_name.is_empty()
                        && m.computer_dns_name.eq_ignore_ascii_case(id)
                        && !changes.is_hidden(m)
                })
                .max_by_key(|m| changes.current(m).last_seen)
        })
        .ok_or_else(|| wire::not_found(format!("Machine {id} was not found")))?;
    let now = changes.current(found);
    Ok(if std::ptr::eq(now, found) {
        Cow::Borrowed(found)
    } else {
        Cow::Owned(now.clone())
    })
}

/// `GET /api/machines`.
pub(crate) fn list(c: &Call<'_>) -> ApiResult {
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let filter = opts.filter(&MACHINE_SCHEMA)?;
    if c.fleet().machines().is_empty() {
        // Documented quirk: no recent machines is a 404, not an empty list.
        return Err(wire::not_found("No machines found"));
    }
    let changes = super::lock(&c.shared.changes);
    let matching = c
        .fleet()
        .machines()
        .iter()
        .filter(|m| !changes.is_hidden(m))
        .map(|m| changes.current(m))
        .filter(|m| filter.as_ref().is_none_or(|f| f.matches(*m)));
    let (page, more) = paginate(matching, opts.skip, paging.size);
    let value: Vec<MachineDto<'_>> = page.into_iter().map(machine_dto).collect();
    Ok(wire::collection("Machines", value, more, &paging))
}

/// `GET /api/machines/{id}`.
pub(crate) fn get(c: &Call<'_>, id: &str) -> ApiResult {
    lookup(c, id).map(|m| wire::entity("Machines/$entity", machine_dto(&m)))
}

/// Parses `findbyip(ip='10.1.2.3',timestamp=2024-01-01T00:00:00Z)`.
pub(crate) fn parse_find_by_ip(segment: &str) -> Result<(IpAddr, OffsetDateTime), ApiError> {
    let inner = segment
        .find('(')
        .and_then(|open| segment.strip_suffix(')').map(|s| &s[open + 1..]))
        .ok_or_else(|| wire::bad_request("InvalidInput", "Malformed findbyip parameters"))?;
    let mut ip = None;
    let mut timestamp = None;
    for part in inner.split(',') {
        let (k, v) = part.split_once('=').ok_or_else(|| {
            wire::bad_request("InvalidInput", format!("Malformed parameter '{part}'"))
        })?;
        let v = v.trim().trim_matches('\'');
        match k.trim().to_ascii_lowercase().as_str() {
            "ip" => ip = Some(v.to_string()),
            "timestamp" => timestamp = Some(v.to_string()),
            other => {
                return Err(wire::bad_request(
                    "InvalidInput",
                    format!("Unknown parameter '{other}'"),
                ));
            }
        }
    }
    let ip = ip.ok_or_else(|| {
        wire::bad_request("MissingRequiredParameter", "Parameter 'ip' is missing")
    })?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| wire::bad_request("InvalidIpAddress", format!("Invalid IP address '{ip}'")))?;
    let ts = timestamp.ok_or_else(|| {
        wire::bad_request(
            "MissingRequiredParameter",
            "Parameter 'timestamp' is missing",
        )
    })?;
    let ts = parse_datetime(&ts)
        .ok_or_else(|| wire::bad_request("InvalidInput", format!("Invalid timestamp '{ts}'")))?;
    Ok((ip, ts))
}

/// `GET /api/machines/findbyip(ip='…',timestamp=…)`: machines seen with that IP within ±15 min.
/// A machine is seen with each of its addresses from `firstSeen` to `lastSeen`; an `Active`
/// machine is still online, so its window runs to the present (otherwise a long-running demo
/// would stop finding anything 15 minutes after start, as every `lastSeen` predates it).
pub(crate) fn find_by_ip(c: &Call<'_>, segment: &str) -> ApiResult {
    let (ip, ts) = parse_find_by_ip(segment)?;
    if ts < OffsetDateTime::now_utc() - Duration::days(30) {
        return Err(wire::bad_request(
            "InvalidInput",
            "The timestamp must be within the last 30 days",
        ));
    }
    let window = Duration::minutes(15);
    let opts = c.options()?;
    let paging = c.paging(&opts, MAX_TOP)?;
    let now = OffsetDateTime::now_utc();
    let changes = super::lock(&c.shared.changes);
    let matching = c.fleet().machines().iter().filter(|m| {
        if changes.is_hidden(m) {
            return false;
        }
        let m = changes.current(m);
        let until = if m.health_status == "Active" {
            m.last_seen.max(now)
        } else {
            m.last_seen
        };
        m.ip_addresses.iter().any(|a| a.ip_address == ip)
            && m.first_seen - window <= ts
            && ts <= until + window
    });
    let (page, more) = paginate(matching.map(|m| changes.current(m)), opts.skip, paging.size);
    let value: Vec<MachineDto<'_>> = page.into_iter().map(machine_dto).collect();
    Ok(wire::collection("Machines", value, more, &paging))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findbyip_parameters_parse_with_or_without_quotes() {
        let (ip, ts) =
            parse_find_by_ip("findbyip(ip='10.0.0.5',timestamp=2026-01-01T10:00:00Z)").expect("ok");
        assert_eq!(ip.to_string(), "10.0.0.5");
        assert_eq!(ts.hour(), 10);
        assert!(parse_find_by_ip("findbyip(ip='10.0.0.5',timestamp='2026-01-01')").is_ok());
    }

    #[test]
    fn findbyip_rejects_bad_ips_and_missing_timestamps() {
        let bad = parse_find_by_ip("findbyip(ip='10.0.0.500',timestamp=2026-01-01Z)")
            .expect_err("bad ip");
        assert_eq!(bad.code, "InvalidIpAddress");
        assert!(parse_find_by_ip("findbyip(ip='10.0.0.5')").is_err());
        assert!(parse_find_by_ip("findbyip").is_err());
    }
}
