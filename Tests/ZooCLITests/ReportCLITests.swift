import Foundation
import Testing

/// `zoo report` end to end on a small trained zoo, and its errors.
@Suite("zoo report", .serialized)
struct ReportCLITests {
    @Test func reportOfATrainedZoo() throws {
        let dir = CLITests.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = try SweepCLITests.write(SweepCLITests.spec(seeds: [0, 1], epochs: 2, train: 300), in: dir)
        let store = dir.appendingPathComponent("z.sqlite").path
        let sweep = try CLITests.zoo(["sweep", "run", spec, "--store", store])
        try #require(sweep.status == 0, "\(sweep.stdout)\(sweep.stderr)")
        let out = dir.appendingPathComponent("report")
        let r = try CLITests.zoo(["report", "--store", store, "--out", out.path, "--by", "lr"])
        #expect(r.status == 0 && r.stdout.contains("index.html"), "\(r.stderr)")
        let html = try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path) == ["index.html"])
        #expect(html.contains("<svg ") && html.contains("Learning curves") && !html.lowercased().contains("<script"))
        #expect(html.contains("zoo report --store \(store) --out \(out.path) --by lr"), "the figures name the command that draws them")
        // The same store gives the same page.
        #expect(try CLITests.zoo(["report", "--store", store, "--out", out.path, "--by", "lr"]).status == 0)
        #expect(try String(contentsOf: out.appendingPathComponent("index.html"), encoding: .utf8) == html)

        let badKey = try CLITests.zoo(["report", "--store", store, "--out", out.path, "--by", "optimiser"])
        #expect(badKey.status == 2 && badKey.stderr.contains("--by optimiser") && badKey.stderr.contains("vary: lr, seed"), "\(badKey.stderr)")
        let badMeasure = try CLITests.zoo(["report", "--store", store, "--out", out.path, "--measure", "sharpness"])
        #expect(badMeasure.status == 2 && badMeasure.stderr.contains("--measure sharpness"), "\(badMeasure.stderr)")
        let file = dir.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let notFolder = try CLITests.zoo(["report", "--store", store, "--out", file.path])
        #expect(notFolder.status == 1 && notFolder.stderr.contains("--out \(file.path)"), "\(notFolder.stderr)")
        let missing = try CLITests.zoo(["report", "--store", dir.appendingPathComponent("typo.sqlite").path, "--out", out.path])
        #expect(missing.status == 1 && missing.stderr.contains("no store here"), "\(missing.stderr)")
        let usage = try CLITests.zoo(["report", "--store", store])
        #expect(usage.status == 2 && usage.stderr.contains("--out"), "\(usage.stderr)")
    }

    @Test func helpIsComplete() throws {
        let help = try CLITests.zoo(["report", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout == """
            OVERVIEW: Write an HTML report of a store: learning curves, metrics by key, the
            gap, measures, parallel coordinates.

            Writes OUT/index.html: one self-contained file (inline SVG and CSS, no script,
            no network) that any browser opens. Each plot stands beside the table of the
            numbers it draws and the command that reproduces it.

            Example: zoo report --store runs/zoo.sqlite --out report --by optimizer

            USAGE: zoo report [--store <path-or-url>] --out <dir> [--where <key=value> ...] [--by <key> ...] [--measure <name> ...]

            OPTIONS:
              --store <path-or-url>   The store: an SQLite file (checkpoints go to
                                      STORE.checkpoints/ beside it), or a PostgreSQL URL
                                      (docs/cluster.md). Default: $ZOO_STORE, else
                                      runs/zoo.sqlite.
                    postgres://USER@HOST[:PORT]/DATABASE[?sslmode=prefer&checkpoints=/shared/folder];
                    the password from the URL, PGPASSWORD or ~/.pgpass, never printed.
              --out <dir>             The folder to write index.html into (created if
                                      missing).
              --where <key=value>     Only runs whose config key has this value
                                      (repeatable).
              --by <key>              Group the learning curves by this config key, and
                                      colour the measure plots by the first (repeatable;
                                      default: the varied keys but seed).
              --measure <name>        Plot this measure against the gap (repeatable;
                                      default: the 12 with the largest |Kendall τ|).
              -h, --help              Show help information.


            """, "\(help.stdout)")
        #expect(try CLITests.zoo(["--help"]).stdout.contains("report"))
    }
}
