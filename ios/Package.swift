// swift-tools-version:5.9
// The fieldcrew core for iOS: the Rust library as an XCFramework built by build-xcframework.sh
// (static libraries plus the C header and module map of module fieldcrew_ffiFFI), the
// uniffi-generated Swift bindings calling it (FieldCrewFFI), and a small async/await layer
// (FieldCrew).
//
// No separate C target for fieldcrew_ffiFFI: the XCFramework's Headers already define that
// module, and a second definition from Sources/fieldcrew_ffiFFI/include would be a
// "redefinition of module 'fieldcrew_ffiFFI'" error. That directory is only where
// scripts/generate-bindings writes the header and module map that build-xcframework.sh packs.
import PackageDescription

let package = Package(
    name: "FieldCrew",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "FieldCrew", targets: ["FieldCrew"]),
    ],
    targets: [
        .binaryTarget(name: "FieldCrewCore", path: "FieldCrewCore.xcframework"),
        .target(
            name: "FieldCrewFFI",
            dependencies: ["FieldCrewCore"],
            path: "Sources/FieldCrewFFI"
        ),
        .target(
            name: "FieldCrew",
            dependencies: ["FieldCrewFFI"],
            path: "Sources/FieldCrew"
        ),
    ]
)
