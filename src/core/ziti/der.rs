//! Just enough DER to read a certificate's subject common name (the channel hello carries it, as
//! openziti/identity `token.go` NewIdentity does). Bounded, no allocation beyond the result, no panics.

/// One TLV: (tag, contents, rest).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &d[..n] {
            len = (len << 8) | b as usize;
        }
        d = &d[n..];
        len
    };
    if len > d.len() {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

const SEQ: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// 2.5.4.3 commonName
const OID_CN: &[u8] = &[0x55, 0x04, 0x03];

/// The subject CN of a DER certificate, if it has one.
pub fn subject_common_name(cert: &[u8]) -> Option<String> {
    let (t, certificate, _) = tlv(cert)?;
    if t != SEQ {
        return None;
    }
    let (t, tbs, _) = tlv(certificate)?;
    if t != SEQ {
        return None;
    }
    let mut rest = tbs;
    // Optional [0] version.
    let (t, _, r) = tlv(rest)?;
    if t == 0xa0 {
        rest = r;
    }
    // serialNumber, signature, issuer, validity, subject
    for _ in 0..4 {
        let (_, _, r) = tlv(rest)?;
        rest = r;
    }
    let (t, mut name, _) = tlv(rest)?;
    if t != SEQ {
        return None;
    }
    let mut found = None;
    while !name.is_empty() {
        let (t, mut rdn, r) = tlv(name)?;
        name = r;
        if t != SET {
            return None;
        }
        while !rdn.is_empty() {
            let (t, atv, r) = tlv(rdn)?;
            rdn = r;
            if t != SEQ {
                return None;
            }
            let (t, oid, r) = tlv(atv)?;
            if t == OID && oid == OID_CN {
                let (_, val, _) = tlv(r)?;
                found = Some(String::from_utf8_lossy(val).into_owned());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_never_panics() {
        assert_eq!(subject_common_name(&[]), None);
        assert_eq!(
            subject_common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]),
            None
        );
        assert_eq!(subject_common_name(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        let mut x = 0x1234_5678u32;
        for _ in 0..2000 {
            let buf: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = subject_common_name(&buf);
        }
    }
}
