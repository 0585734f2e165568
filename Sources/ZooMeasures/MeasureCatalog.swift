/// Every measure Zoo computes, by family (`zoo measure list`).
public enum MeasureCatalog {
    /// The measures of one member, in the order of `zoo measure list`.
    public static let measures: [any Measure] = NormMeasures.all + OutputMeasures.all + FlatnessMeasures.all
        + DynamicsMeasures.all + RepresentationMeasures.all + WeightMeasures.all

    /// The measures of pairs of members.
    public static let pairMeasures: [any PairMeasure] = PairwiseMeasures.all + ConnectivityMeasures.all

    /// Every name, single and pairwise.
    public static var names: [String] { measures.map(\.name) + pairMeasures.map(\.name) }

    /// The measure called `name`.
    public static func measure(_ name: String) -> (any Measure)? { measures.first { $0.name == name } }

    /// The pair measure called `name`.
    public static func pairMeasure(_ name: String) -> (any PairMeasure)? { pairMeasures.first { $0.name == name } }
}
