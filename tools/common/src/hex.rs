// SPDX-License-Identifier: GPL-2.0
//! Hex bytes and MAC addresses, as the tools take them on their command
//! lines and print them. A parse error is a message for the person who typed
//! the argument.

pub fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in '{s}'"));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("bad hex '{}'", &s[i..i + 2]))
        })
        .collect()
}

pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let v = parse_hex(s)?;
    v.try_into()
        .map_err(|_| format!("'{s}' is not a MAC address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        assert_eq!(parse_hex("00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(parse_hex("02:00:00:00:00:01").unwrap().len(), 6);
        assert!(parse_hex("abc").is_err());
        assert!(parse_hex("zz").is_err());
        assert_eq!(to_hex(&[1, 0xab]), "01ab");
    }
}
