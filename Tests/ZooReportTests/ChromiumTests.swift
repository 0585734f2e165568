import Foundation
import Testing
import ZooReport
import ZooTestSupport

/// The report as a reader sees it: opened by Debian's `chromium` (scripts/install-deps.sh
/// installs it), headless, with a screenshot and the rendered DOM.
@Suite("Report in Chromium", .serialized)
struct ChromiumTests {
    /// The console check sees what it must: a page whose script fails logs it.
    @Test func consoleErrorsAreSeen() throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let page = folder.appendingPathComponent("bad.html")
        try Data("<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction()</script></body></html>".utf8).write(to: page)
        let run = try Chromium.run(["--dump-dom"], page: page, profile: folder.appendingPathComponent("profile"))
        #expect(Chromium.consoleErrors(run.stderr).contains { $0.contains("Uncaught ReferenceError") }, "\(run.stderr.suffix(2000))")
    }

    @Test(arguments: [false, true]) func reportOpensWithoutErrorsAndIsNotBlank(hostile: Bool) throws {
        let folder = Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try Fixtures.store(in: folder, hostile: hostile)
        let html = try HTMLReport.make(store: store, options: ReportOptions(storePath: "z.sqlite")).html()
        #expect(!html.lowercased().contains("<script"), "a page with no script cannot log a script error")
        let page = folder.appendingPathComponent("index.html")
        try Data(html.utf8).write(to: page)

        let dom = try Chromium.run(["--dump-dom"], page: page, profile: folder.appendingPathComponent("profile-dom"))
        #expect(dom.status == 0, "\(dom.stderr.suffix(2000))")
        #expect(Chromium.consoleErrors(dom.stderr).isEmpty, "\(Chromium.consoleErrors(dom.stderr))")
        // The DOM holds every chart, its axes and its marks, and no element from the store.
        let svgCount = html.components(separatedBy: "<svg ").count - 1
        #expect(svgCount > 10 && dom.stdout.components(separatedBy: "<svg ").count - 1 == svgCount)
        #expect(dom.stdout.components(separatedBy: "class=\"axis ").count - 1 >= svgCount)
        #expect(dom.stdout.contains("class=\"mark point\"") && dom.stdout.contains("class=\"mark line\""))
        #expect(!dom.stdout.lowercased().contains("<script") && !dom.stdout.lowercased().contains("<img"))

        let png = folder.appendingPathComponent("report.png")
        let shot = try Chromium.run(["--screenshot=\(png.path)", "--window-size=1280,2400", "--hide-scrollbars"], page: page,
                                     profile: folder.appendingPathComponent("profile-shot"))
        #expect(shot.status == 0, "\(shot.stderr.suffix(2000))")
        #expect(Chromium.consoleErrors(shot.stderr).isEmpty, "\(Chromium.consoleErrors(shot.stderr))")
        let image = try PNGImage(data: Data(contentsOf: png))
        #expect(image.width == 1280 && image.height == 2400)
        let colours = image.colourCounts()
        let background = colours.max { $0.value < $1.value }!
        #expect(colours.count > 50, "a rendered report has text, lines and a palette: \(colours.count) colours")
        #expect(Double(image.width * image.height - background.value) > 0.05 * Double(image.width * image.height), "mostly blank")
        // Okabe–Ito blue reached the screen (the first series' colour).
        #expect(colours.keys.contains(0x0072B2))
    }
}

