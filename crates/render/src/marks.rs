//! Where the resolved spec goes in each format: the names and markers that
//! the writers ([`crate::encode`], [`crate::svg`]) put in a file and the
//! reader ([`crate::embed`]) looks for. Both sides import them from here.
//!
//! - PNG: a text chunk with the keyword [`SPEC_KEYWORD`];
//! - WebP: an XMP packet ([`xmp_packet`]) whose one property,
//!   `mandala:spec` in [`XMP_NAMESPACE`], holds the spec;
//! - SVG: the element between [`SVG_OPEN`] and [`SVG_CLOSE`].

/// The PNG text chunk keyword that carries `ResolvedSpec::canonical_json()`.
pub const SPEC_KEYWORD: &str = "mandala:spec";

/// The XMP namespace of the `mandala:spec` property.
pub const XMP_NAMESPACE: &str = "https://github.com/mandala-bot/mandala-bot/ns/spec/1.0/";

/// The `mandala:spec` property's element in the XMP packet.
pub const XMP_OPEN: &str = "<mandala:spec>";
pub const XMP_CLOSE: &str = "</mandala:spec>";

/// The SVG element that holds the spec.
pub const SVG_OPEN: &str = "<metadata id=\"mandala-spec\">";
pub const SVG_CLOSE: &str = "</metadata>";

/// An XMP packet whose one property, `mandala:spec`, is `spec_json`.
pub fn xmp_packet(spec_json: &str) -> String {
    let mut out = String::with_capacity(spec_json.len() + 320);
    out.push_str("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:mandala=\"");
    out.push_str(XMP_NAMESPACE);
    out.push_str("\">");
    out.push_str(XMP_OPEN);
    for ch in spec_json.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            _ => out.push(ch),
        }
    }
    out.push_str(XMP_CLOSE);
    out.push_str("</rdf:Description></rdf:RDF></x:xmpmeta>");
    out
}
