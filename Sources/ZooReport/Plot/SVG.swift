import Foundation

/// Escapes text for HTML and SVG, in element text and in (quoted) attribute values alike — the
/// one escaping function of the report: `&`, `<`, `>`, `"` and `'` become entities, and control
/// characters other than tab and newline (which no page needs, and which are invalid in XML)
/// become U+FFFD. Everything from a store passes through it before it reaches a page.
public func escapeMarkup(_ text: String) -> String {
    var out = String.UnicodeScalarView()
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out.append(contentsOf: "&amp;".unicodeScalars)
        case "<": out.append(contentsOf: "&lt;".unicodeScalars)
        case ">": out.append(contentsOf: "&gt;".unicodeScalars)
        case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
        case "'": out.append(contentsOf: "&#39;".unicodeScalars)
        case "\t", "\n": out.append(scalar)
        default:
            let v = scalar.value
            let control = v < 0x20 || (0x7F..<0xA0).contains(v) || v == 0xFFFE || v == 0xFFFF
            out.append(control ? "\u{FFFD}" : scalar)
        }
    }
    return String(out)
}

/// `text` cut to `limit` characters with an ellipsis (before escaping, so no entity is cut).
func shortened(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(max(limit - 1, 1))) + "…"
}

/// A coordinate in SVG: one decimal, never NaN or infinite (which would make the SVG invalid).
func coordinate(_ v: Double) -> String {
    guard v.isFinite else { return "0" }
    let s = String(format: "%.1f", v)
    return s == "-0.0" ? "0.0" : s
}

/// An SVG document under construction: elements appended in order, text escaped on the way in.
struct SVGCanvas {
    let width: Double
    let height: Double
    private(set) var elements: [String] = []

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    mutating func raw(_ element: String) { elements.append(element) }

    mutating func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, class cls: String, style: String = "") {
        raw("<line class=\"\(cls)\" x1=\"\(coordinate(x1))\" y1=\"\(coordinate(y1))\" x2=\"\(coordinate(x2))\" y2=\"\(coordinate(y2))\"\(style.isEmpty ? "" : " style=\"\(style)\"")/>")
    }

    mutating func rect(_ x: Double, _ y: Double, _ w: Double, _ h: Double, class cls: String, style: String = "") {
        raw("<rect class=\"\(cls)\" x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" width=\"\(coordinate(max(w, 0)))\" height=\"\(coordinate(max(h, 0)))\"\(style.isEmpty ? "" : " style=\"\(style)\"")/>")
    }

    /// Text, escaped; `anchor` is start, middle or end; `rotate` turns it about its anchor point.
    mutating func text(_ x: Double, _ y: Double, _ string: String, class cls: String, anchor: String = "start", rotate: Double = 0) {
        let transform = rotate == 0 ? "" : " transform=\"rotate(\(coordinate(rotate)) \(coordinate(x)) \(coordinate(y)))\""
        raw("<text class=\"\(cls)\" x=\"\(coordinate(x))\" y=\"\(coordinate(y))\" text-anchor=\"\(anchor)\"\(transform)>\(escapeMarkup(string))</text>")
    }

    /// A polyline through `points` (pixels); nothing for fewer than two.
    mutating func path(_ points: [(Double, Double)], class cls: String, style: String, closed: Bool = false) {
        guard points.count >= 2 else { return }
        let d = points.enumerated().map { ($0.offset == 0 ? "M" : "L") + coordinate($0.element.0) + " " + coordinate($0.element.1) }.joined(separator: " ")
        raw("<path class=\"\(cls)\" d=\"\(d)\(closed ? " Z" : "")\" style=\"\(style)\"/>")
    }

    /// The document; `title` is the accessible name (and the tooltip of the whole figure).
    func rendered(title: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 \(coordinate(width)) \(coordinate(height))\" width=\"\(coordinate(width))\" height=\"\(coordinate(height))\" role=\"img\" aria-label=\"\(escapeMarkup(title))\">"
            + "<title>\(escapeMarkup(title))</title>\n" + elements.joined(separator: "\n") + "\n</svg>"
    }
}
