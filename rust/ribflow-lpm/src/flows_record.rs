//! One record of a `flows` message as its pmacct JSON, for `FlowRenderer` (flows.rs): the
//! record's own fields and the fragments of the routes of its two sides.

use pyo3::prelude::*;

use crate::flows::{FlowRenderer, Side};
use crate::json::Val;
use crate::records::*;
use crate::table::{Address, PrefixTable};
use crate::text::{put_field, put_timestamp, write_v4, write_v6};

/// A side's fragments (dst run, src run, as, peer as): its set's, or those of "no route".
fn texts<'a>(no_route: &'a [String; 4], side: &'a Option<Side>) -> PyResult<[&'a str; 4]> {
    match side {
        Some(side) => {
            let p = &side.frag.parts;
            Ok([&p[0], &p[1], &p[2], &p[3]])
        }
        None => Ok([&no_route[0], &no_route[1], &no_route[2], &no_route[3]]),
    }
}

impl FlowRenderer {
    /// Render one record into `out`: `Some((source hit, destination hit))`, or None.
    pub(crate) fn one<'py>(
        &self,
        py: Python<'py>,
        rec: &Record<'_>,
        v4: Option<&Bound<'py, PrefixTable>>,
        v6: Option<&Bound<'py, PrefixTable>>,
        out: &mut Vec<u8>,
    ) -> PyResult<Option<(bool, bool)>> {
        let Some((dst, dst_text)) = address(rec[DST_ADDR]) else {
            return Ok(None);
        };
        let Some((src, src_text)) = address(rec[SRC_ADDR]) else {
            return Ok(None);
        };
        let v4_family = matches!(dst, Address::V4(_));
        if v4_family != matches!(src, Address::V4(_)) {
            return Ok(None); // mixed families: Python's formatting decides
        }
        let Some(Val::Str(exporter)) = rec[EXPORTER] else {
            return Ok(None);
        };
        let (Some(Val::Int(packets)), Some(Val::Int(bytes))) = (rec[PACKETS], rec[BYTES]) else {
            return Ok(None);
        };
        let ints = [IN_IF, OUT_IF, SRC_PORT, DST_PORT, TCP_FLAGS, TOS].map(|k| int_or(rec[k], 0));
        let [Some(in_if), Some(out_if), Some(sport), Some(dport), Some(flags), Some(tos)] = ints
        else {
            return Ok(None);
        };
        let Some(sampling) = int_or(rec[SAMPLING_RATE], 1) else {
            return Ok(None);
        };
        let Some(proto) = int_or(rec[PROTO], 0).filter(|p| (0..256).contains(p)) else {
            return Ok(None);
        };
        let Some(version) = int_or(rec[VERSION], 0) else {
            return Ok(None);
        };
        // nfacctd's tcp_flags: NetFlow v5's only for TCP (NF_tcp_flags_handler), and the low
        // octet of a two-byte tcpControlBits (as ribflow.enrich.pmacct.pmacct_tcp_flags)
        let flags = if version == 5 && proto != 6 {
            0
        } else {
            flags & 0xFF
        };
        let version = match version {
            5 | 5005 => 5,
            9 => 9,
            10 => 10,
            _ => 0,
        };
        let table = if v4_family { v4 } else { v6 };
        let d = match self.route(py, table, dst, Some(rec[BGP_NEXT_HOP])) {
            Ok(side) => side,
            Err(Some(e)) => return Err(e),
            Err(None) => return Ok(None),
        };
        let s = match self.route(py, table, src, None) {
            Ok(side) => side,
            Err(Some(e)) => return Err(e),
            Err(None) => return Ok(None),
        };
        let zero: &[u8] = if v4_family { b"0.0.0.0" } else { b"::" };
        let texts = |side| texts(&self.no_route, side);
        // parts: (dst run, src run, as, peer as)
        let [d_dst, _, _, d_peer] = texts(&d)?;
        let [_, s_src, s_as, s_peer] = texts(&s)?;
        let net = |out: &mut Vec<u8>, side: &Option<Side>| match side {
            Some(side) if v4_family => write_v4(out, side.network as u32),
            Some(side) => write_v6(out, side.network),
            None => out.extend_from_slice(zero),
        };
        out.extend_from_slice(b"{\"event_type\":\"purge\",\"as_src\":");
        out.extend_from_slice(s_as.as_bytes());
        out.push(b',');
        out.extend_from_slice(d_dst.as_bytes());
        out.extend_from_slice(b",\"peer_as_src\":");
        out.extend_from_slice(s_peer.as_bytes());
        out.extend_from_slice(b",\"peer_as_dst\":");
        out.extend_from_slice(d_peer.as_bytes());
        out.extend_from_slice(b",\"peer_ip_src\":\"");
        out.extend_from_slice(exporter.as_bytes());
        out.extend_from_slice(b"\",\"peer_ip_dst\":\"");
        match &d {
            Some(side) if !side.frag.parts[4].is_empty() => {
                out.extend_from_slice(side.frag.parts[4].as_bytes())
            }
            _ => out.extend_from_slice(zero),
        }
        out.extend_from_slice(b"\",");
        out.extend_from_slice(s_src.as_bytes());
        put_field(out, b",\"iface_in\":", in_if);
        put_field(out, b",\"iface_out\":", out_if);
        out.extend_from_slice(b",\"ip_src\":\"");
        out.extend_from_slice(src_text.as_bytes());
        out.extend_from_slice(b"\",\"net_src\":\"");
        net(out, &s);
        out.extend_from_slice(b"\",\"ip_dst\":\"");
        out.extend_from_slice(dst_text.as_bytes());
        out.extend_from_slice(b"\",\"net_dst\":\"");
        net(out, &d);
        put_field(
            out,
            b"\",\"mask_src\":",
            s.as_ref().map_or(0, |x| i64::from(x.length)),
        );
        put_field(
            out,
            b",\"mask_dst\":",
            d.as_ref().map_or(0, |x| i64::from(x.length)),
        );
        put_field(out, b",\"port_src\":", sport);
        put_field(out, b",\"port_dst\":", dport);
        put_field(out, b",\"tcp_flags\":\"", flags);
        out.extend_from_slice(b"\",\"ip_proto\":\"");
        out.extend_from_slice(self.proto_text[proto as usize].as_bytes());
        put_field(out, b"\",\"tos\":", tos);
        put_field(out, b",\"sampling_rate\":", sampling);
        out.extend_from_slice(b",\"timestamp_start\":\"");
        for (k, next) in [
            (START, "\",\"timestamp_end\":\""),
            (END, "\",\"timestamp_arrival\":\""),
            (TIME_RECEIVED, "\",\"timestamp_export\":\""),
            (TIME_EXPORT, "\","),
        ] {
            if put_timestamp(out, rec[k], self.epoch, self.usec).is_none() {
                return Ok(None);
            }
            out.extend_from_slice(next.as_bytes());
        }
        put_field(out, b"\"export_proto_version\":", version);
        put_field(out, b",\"flows\":1,\"packets\":", packets);
        put_field(out, b",\"bytes\":", bytes);
        out.extend_from_slice(&self.tail);
        Ok(Some((s.is_some(), d.is_some())))
    }
}
