import Foundation

/// Series styles a colour-blind reader can tell apart: the Okabe–Ito colours (Okabe & Ito 2008,
/// "Color Universal Design"), each series also with its own marker shape and dash pattern, so
/// colour is never the only cue. Series `i` gets colour `i mod 8`, marker `i mod 7`, dash `i mod 5`.
public enum Palette {
    /// Blue, orange, bluish green, vermillion, reddish purple, sky blue, black, yellow (last: weak on white).
    public static let colours = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
    public enum Marker: String, CaseIterable, Sendable { case circle, square, triangle, diamond, triangleDown, cross, plus }
    static let dashes = ["", "7 3", "2 3", "9 3 2 3", "4 4"]

    public static func colour(_ i: Int) -> String { colours[((i % colours.count) + colours.count) % colours.count] }
    public static func marker(_ i: Int) -> Marker { Marker.allCases[((i % Marker.allCases.count) + Marker.allCases.count) % Marker.allCases.count] }
    static func dash(_ i: Int) -> String { dashes[((i % dashes.count) + dashes.count) % dashes.count] }

    /// A sequential colour for `t` in 0...1 (viridis, which stays ordered in grey and for
    /// colour-blind readers); grey for a non-finite `t`.
    public static func sequential(_ t: Double) -> String {
        guard t.isFinite else { return "#999999" }
        let anchors: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]
        let x = min(max(t, 0), 1) * Double(anchors.count - 1)
        let i = min(Int(x), anchors.count - 2), f = x - Double(i)
        let a = anchors[i], b = anchors[i + 1]
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02X%02X%02X", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// An SVG element drawing `marker` centred at (x, y), `size` across.
    static func markerElement(_ marker: Marker, x: Double, y: Double, size: Double, colour: String, class cls: String) -> String {
        let r = size / 2, c = coordinate
        let fill = "fill:\(colour);stroke:\(colour)"
        switch marker {
        case .circle:
            return "<circle class=\"\(cls)\" cx=\"\(c(x))\" cy=\"\(c(y))\" r=\"\(c(r))\" style=\"\(fill)\"/>"
        case .square:
            return "<rect class=\"\(cls)\" x=\"\(c(x - r * 0.85))\" y=\"\(c(y - r * 0.85))\" width=\"\(c(r * 1.7))\" height=\"\(c(r * 1.7))\" style=\"\(fill)\"/>"
        case .triangle:
            return "<path class=\"\(cls)\" d=\"M\(c(x)) \(c(y - r)) L\(c(x + r)) \(c(y + r * 0.8)) L\(c(x - r)) \(c(y + r * 0.8)) Z\" style=\"\(fill)\"/>"
        case .triangleDown:
            return "<path class=\"\(cls)\" d=\"M\(c(x)) \(c(y + r)) L\(c(x + r)) \(c(y - r * 0.8)) L\(c(x - r)) \(c(y - r * 0.8)) Z\" style=\"\(fill)\"/>"
        case .diamond:
            return "<path class=\"\(cls)\" d=\"M\(c(x)) \(c(y - r * 1.1)) L\(c(x + r)) \(c(y)) L\(c(x)) \(c(y + r * 1.1)) L\(c(x - r)) \(c(y)) Z\" style=\"\(fill)\"/>"
        case .cross:
            return "<path class=\"\(cls)\" d=\"M\(c(x - r)) \(c(y - r)) L\(c(x + r)) \(c(y + r)) M\(c(x - r)) \(c(y + r)) L\(c(x + r)) \(c(y - r))\" style=\"fill:none;stroke:\(colour);stroke-width:2\"/>"
        case .plus:
            return "<path class=\"\(cls)\" d=\"M\(c(x - r)) \(c(y)) L\(c(x + r)) \(c(y)) M\(c(x)) \(c(y - r)) L\(c(x)) \(c(y + r))\" style=\"fill:none;stroke:\(colour);stroke-width:2\"/>"
        }
    }
}
