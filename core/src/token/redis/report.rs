//! What `suz inspect` and `suz doctor` show of Redis.

use std::time::Instant;

use redis::Value;

use super::{decode, now_ms, RedisReport, RedisStore};
use crate::error::Result;

impl RedisStore {
    /// Connects (TLS, ACL), pings, compares clocks and lists the stored tokens (masked) and the
    /// held locks: what `suz inspect` and `suz doctor` show. At most 1 000 keys are listed.
    pub fn report(&self) -> Result<RedisReport> {
        let deadline = self.op_deadline();
        let mut conn = self.connect(deadline)?;
        let mut report = RedisReport {
            server: conn.addr().to_owned(),
            tls: self.config().tls,
            username: self.config().username.clone(),
            ..RedisReport::default()
        };
        let sent = Instant::now();
        conn.call(&redis::cmd("PING"), self.op_time(deadline))?;
        report.ping_us = sent.elapsed().as_micros();
        let before = now_ms();
        if let Value::Array(t) = conn.call(&redis::cmd("TIME"), self.op_time(deadline))? {
            let after = now_ms();
            let num = |v: &Value| match v {
                Value::BulkString(b) => String::from_utf8_lossy(b).parse::<i64>().ok(),
                _ => None,
            };
            if let [Some(s), Some(us)] = [t.first().and_then(num), t.get(1).and_then(num)] {
                report.clock_skew_ms = s * 1000 + us / 1000 - (before + after) / 2;
            }
        }
        let prefix = &self.config().key_prefix;
        let mut cursor = "0".to_owned();
        let mut seen = 0usize;
        loop {
            let reply = conn.call(
                redis::cmd("SCAN")
                    .arg(&cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}*"))
                    .arg("COUNT")
                    .arg(200),
                self.op_time(deadline),
            )?;
            let Value::Array(parts) = reply else { break };
            let (Some(Value::BulkString(next)), Some(Value::Array(found))) =
                (parts.first(), parts.get(1))
            else {
                break;
            };
            for k in found {
                let Value::BulkString(k) = k else { continue };
                let k = String::from_utf8_lossy(k).into_owned();
                seen += 1;
                if let Some(hash) = k.strip_prefix(&format!("{prefix}lock:")) {
                    if let Value::Int(left) =
                        conn.call(redis::cmd("PTTL").arg(&k), self.op_time(deadline))?
                    {
                        report.locks.push((hash.to_owned(), left));
                    }
                } else if k.starts_with(&format!("{prefix}token:")) {
                    if let Value::BulkString(b) =
                        conn.call(redis::cmd("GET").arg(&k), self.op_time(deadline))?
                    {
                        let b = zeroize::Zeroizing::new(b);
                        let label = serde_json::from_slice::<serde_json::Value>(&b)
                            .ok()
                            .and_then(|v| {
                                v.get("label").and_then(|l| l.as_str()).map(str::to_owned)
                            })
                            .unwrap_or_default();
                        if let Some(t) = decode(&b, None) {
                            report.tokens.push((
                                label,
                                t.flow().name().to_owned(),
                                t.masked(),
                                t.expires_at_ms(),
                            ));
                        }
                    }
                }
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" || seen >= 1000 {
                break;
            }
        }
        self.checkin(conn);
        Ok(report)
    }
}
