//! The BER reader: tag-length-value elements with definite lengths of up to four length bytes
//! and indefinite lengths ended by end-of-contents octets, nested at most
//! [`MAX_DEPTH`] levels. Every slice is taken with a checked method and every length is
//! checked against what is left: it never panics.

/// How deeply elements may nest. A CAdES signature with its certificates nests about a dozen
/// levels; anything deeper is refused before it can exhaust the stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// Why input is not well-formed: fixed text, never the input's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Malformed(pub(super) &'static str);

/// What the reader returns.
pub(super) type Parsed<T> = std::result::Result<T, Malformed>;

/// Tag classes, from the two high bits of the identifier octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    Universal,
    Application,
    Context,
    Private,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tag {
    pub(super) class: Class,
    pub(super) constructed: bool,
    pub(super) number: u32,
}

impl Tag {
    pub(super) const fn universal(number: u32, constructed: bool) -> Tag {
        Tag {
            class: Class::Universal,
            constructed,
            number,
        }
    }

    /// A constructed context-specific tag, `[n]`, as EXPLICIT and SET/SEQUENCE-valued
    /// IMPLICIT fields are.
    pub(super) const fn context(number: u32) -> Tag {
        Tag {
            class: Class::Context,
            constructed: true,
            number,
        }
    }

    /// Universal tag 0 is reserved for the end-of-contents octets.
    pub(super) fn is_end_of_contents(self) -> bool {
        self == Tag::universal(0, false)
    }
}

pub(super) const INTEGER: Tag = Tag::universal(2, false);
pub(super) const BIT_STRING: Tag = Tag::universal(3, false);
pub(super) const OCTET_STRING: u32 = 4;
pub(super) const OID: Tag = Tag::universal(6, false);
pub(super) const SEQUENCE: Tag = Tag::universal(16, true);
pub(super) const SET: Tag = Tag::universal(17, true);

/// One element: its tag and contents (for an indefinite length, without the end-of-contents
/// octets), and how deeply it is nested.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tlv<'a> {
    pub(super) tag: Tag,
    pub(super) contents: &'a [u8],
    pub(super) depth: usize,
    /// The whole element as it was read: identifier, length, contents (and end-of-contents).
    pub(super) raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// The elements inside a constructed element.
    pub(super) fn children(&self) -> Reader<'a> {
        Reader {
            rest: self.contents,
            depth: self.depth.saturating_add(1),
        }
    }

    /// A primitive INTEGER whose value is one of `values` (one contents octet).
    pub(super) fn is_small_integer(&self, values: &[u8]) -> bool {
        self.tag == INTEGER && matches!(self.contents, [v] if values.contains(v))
    }
}

/// The elements of one level, in order.
pub(super) struct Reader<'a> {
    pub(super) rest: &'a [u8],
    pub(super) depth: usize,
}

impl<'a> Reader<'a> {
    /// The next element, or `None` at the end of this level.
    pub(super) fn next(&mut self) -> Parsed<Option<Tlv<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = element(self.rest, self.depth)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// The next element if it has tag `tag`; otherwise nothing is consumed.
    pub(super) fn next_if(&mut self, tag: Tag) -> Parsed<Option<Tlv<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = element(self.rest, self.depth)?;
        if tlv.tag != tag {
            return Ok(None);
        }
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// All remaining elements.
    pub(super) fn collect(mut self) -> Parsed<Vec<Tlv<'a>>> {
        let mut all = Vec::new();
        while let Some(tlv) = self.next()? {
            all.push(tlv);
        }
        Ok(all)
    }
}

/// A length: a count of octets, or indefinite (contents end at end-of-contents octets).
pub(super) enum Length {
    Definite(usize),
    Indefinite,
}

/// Takes the first octet of `input`.
pub(super) fn octet(input: &mut &[u8]) -> Parsed<u8> {
    let (&first, rest) = input.split_first().ok_or(Malformed("truncated"))?;
    *input = rest;
    Ok(first)
}

/// Reads an identifier: one octet, or more for tag numbers above 30 (at most four more,
/// which is far beyond any tag CMS uses).
pub(super) fn tag(input: &mut &[u8]) -> Parsed<Tag> {
    let first = octet(input)?;
    let class = match first >> 6 {
        0 => Class::Universal,
        1 => Class::Application,
        2 => Class::Context,
        _ => Class::Private,
    };
    let constructed = first & 0x20 != 0;
    let mut number = u32::from(first & 0x1F);
    if number == 0x1F {
        number = 0;
        let mut ended = false;
        for _ in 0..4 {
            let next = octet(input)?;
            // At most 4 × 7 = 28 bits: the shift never loses bits.
            number = (number << 7) | u32::from(next & 0x7F);
            if next & 0x80 == 0 {
                ended = true;
                break;
            }
        }
        if !ended {
            return Err(Malformed("a tag number too large"));
        }
    }
    Ok(Tag {
        class,
        constructed,
        number,
    })
}

/// Reads a length: short form, long form with one to four octets, or indefinite.
pub(super) fn length(input: &mut &[u8]) -> Parsed<Length> {
    let first = octet(input)?;
    match first {
        0x00..=0x7F => Ok(Length::Definite(usize::from(first))),
        0x80 => Ok(Length::Indefinite),
        0x81..=0x84 => {
            let mut value: u32 = 0;
            for _ in 0..(first & 0x7F) {
                // At most four octets: the shift never loses bits.
                value = (value << 8) | u32::from(octet(input)?);
            }
            usize::try_from(value)
                .map(Length::Definite)
                .map_err(|_| Malformed("a length too large"))
        }
        _ => Err(Malformed("a length of more than four octets")),
    }
}

/// Reads the element at the start of `input`, nested `depth` levels deep; returns it and the
/// input after it.
pub(super) fn element(input: &[u8], depth: usize) -> Parsed<(Tlv<'_>, &[u8])> {
    if depth > MAX_DEPTH {
        return Err(Malformed("nested too deeply"));
    }
    let mut after_header = input;
    let tag = tag(&mut after_header)?;
    if tag.is_end_of_contents() {
        return Err(Malformed(
            "an end-of-contents where an element was expected",
        ));
    }
    match length(&mut after_header)? {
        Length::Definite(len) => {
            let (contents, rest) = after_header
                .split_at_checked(len)
                .ok_or(Malformed("truncated"))?;
            let raw = input
                .get(..input.len() - rest.len())
                .ok_or(Malformed("truncated"))?;
            Ok((
                Tlv {
                    tag,
                    contents,
                    depth,
                    raw,
                },
                rest,
            ))
        }
        Length::Indefinite => {
            if !tag.constructed {
                return Err(Malformed("an indefinite length on a primitive element"));
            }
            // The contents are whole elements up to the end-of-contents octets.
            let mut rest = after_header;
            loop {
                if let Some(after_end) = rest.strip_prefix(&[0, 0]) {
                    // `rest` is a suffix of `after_header`, so this cannot underflow.
                    let used = after_header.len() - rest.len();
                    let contents = after_header.get(..used).ok_or(Malformed("truncated"))?;
                    let raw = input
                        .get(..input.len() - after_end.len())
                        .ok_or(Malformed("truncated"))?;
                    return Ok((
                        Tlv {
                            tag,
                            contents,
                            depth,
                            raw,
                        },
                        after_end,
                    ));
                }
                if rest.is_empty() {
                    return Err(Malformed("an indefinite length never ended"));
                }
                let (_, next) = element(rest, depth.saturating_add(1))?;
                rest = next;
            }
        }
    }
}

/// The one element that is all of `input`.
pub(super) fn whole(input: &[u8]) -> Parsed<Tlv<'_>> {
    let (tlv, rest) = element(input, 0)?;
    if rest.is_empty() {
        Ok(tlv)
    } else {
        Err(Malformed("bytes after the end of the structure"))
    }
}
