import Foundation
import ZooAnalysis
import ZooStore

/// Tables and exports of a variability study (``Variability/study(store:runs:by:epoch:samples:seed:)``).
public enum VariabilityReport {
    /// One row per group: members, mean accuracy, flips, entropy, the paper's CV, and the
    /// ensemble of all members.
    public static func summary(_ groups: [VariabilityGroup]) -> Table {
        let keys = Array(Set(groups.flatMap(\.name.keys))).sorted()
        return Table(headers: keys + ["members", "examples", "acc % (mean ± sd)", "flip %", "pair flip %", "disagree %", "entropy (bits)",
                                      "unanimous %", "prob CV", "ensemble acc %"],
                     rows: groups.map { g in
            let v = g.variability, sd = MeanEstimate(v.memberAccuracies)?.sd ?? .nan
            return keys.map { g.name[$0] ?? "" } + [
                String(v.members), String(v.examples),
                sd.isNaN ? percent(v.meanAccuracy) : "\(percent(v.meanAccuracy)) ± \(percent(sd))",
                percent(v.flipFraction), percent(v.pairwiseFlipRate), percent(v.pairwiseDisagreement),
                number(v.entropy.mean), percent(v.entropy.unanimous), number(v.probabilityCV),
                percent(v.ensembles.last?.accuracy ?? .nan),
            ]
        })
    }

    /// The curves against ensemble size k, one row per (group, k).
    public static func curves(_ groups: [VariabilityGroup]) -> Table {
        let keys = Array(Set(groups.flatMap(\.name.keys))).sorted()
        return Table(headers: keys + ["k", "ensemble acc %", "sd", "subsets", "flip %", "pairs"], rows: groups.flatMap { g in
            g.variability.ensembles.map { e in
                keys.map { g.name[$0] ?? "" } + [String(e.size), percent(e.accuracy), percent(e.accuracySD), String(e.subsets),
                                                  e.flipRate.map(percent) ?? "", e.pairs > 0 ? String(e.pairs) : ""]
            }
        })
    }

    /// One CSV row per (group, k): the group's keys, its summary, and the k-ensemble's point.
    /// Fractions are in [0, 1]; empty cells are not defined (flip_rate for 2k > K, NaN values).
    public static func csv(_ groups: [VariabilityGroup]) -> String {
        let keys = Array(Set(groups.flatMap(\.name.keys))).sorted()
        var lines = [(keys + ["members", "examples", "classes", "mean_accuracy", "flip_fraction", "always_correct", "always_wrong",
                              "pairwise_flip_rate", "pairwise_disagreement", "entropy_mean", "entropy_median", "entropy_p90", "entropy_max",
                              "unanimous", "probability_cv", "k", "ensemble_accuracy", "ensemble_accuracy_sd", "subsets", "flip_rate", "pairs",
                              "exhaustive"]).map(field).joined(separator: ",")]
        for g in groups {
            let v = g.variability
            let common = keys.map { g.name[$0] ?? "" } + [String(v.members), String(v.examples), String(v.classes)]
                + [v.meanAccuracy, v.flipFraction, v.alwaysCorrect, v.alwaysWrong, v.pairwiseFlipRate, v.pairwiseDisagreement,
                   v.entropy.mean, v.entropy.median, v.entropy.p90, v.entropy.max, v.entropy.unanimous, v.probabilityCV].map(value)
            for e in v.ensembles {
                let point = [String(e.size), value(e.accuracy), value(e.accuracySD), String(e.subsets), e.flipRate.map(value) ?? "",
                             String(e.pairs), e.exhaustive ? "true" : "false"]
                lines.append((common + point).map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The groups as JSON (``VariabilityGroup`` with its ``PredictionVariability``); a value that is
    /// not defined (the sd of one subset, the pairs of one member) is the string "NaN", an absent
    /// flip rate (2k > K) is left out.
    public static func json(_ groups: [VariabilityGroup]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return String(decoding: try encoder.encode(groups), as: UTF8.self)
    }

    /// Every example's prediction of each record, one CSV row each: `run,epoch,example,label,
    /// predicted,p_true,p_predicted` (probabilities as stored, q/65535, to 9 digits).
    public static func predictionsCSV(_ records: [PredictionRecord]) -> String {
        var out = "run,epoch,example,label,predicted,p_true,p_predicted\n"
        for r in records {
            for i in 0..<r.log.count {
                out += "\(r.runID),\(r.epoch),\(i),\(r.log.labels[i]),\(r.log.predicted[i]),"
                out += String(format: "%.9f,%.9f\n", PredictionLog.probability(r.log.trueClassProbability[i]),
                              PredictionLog.probability(r.log.predictedClassProbability[i]))
            }
        }
        return out
    }

    static func percent(_ v: Double) -> String { v.isFinite ? String(format: "%.2f", v * 100) : "-" }
    static func number(_ v: Double) -> String { v.isFinite ? String(format: "%.3f", v) : "-" }
    static func value(_ v: Double) -> String { v.isFinite ? "\(v)" : "" }

    /// A CSV field, quoted when it holds a comma, quote or line break.
    static func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
}
