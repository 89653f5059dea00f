// swift-tools-version:5.9
// The fieldcrew core for iOS: the uniffi-generated Swift bindings (FieldCrewFFI), the C header
// module they call (fieldcrew_ffiFFI), the Rust library as an XCFramework built by
// build-xcframework.sh, and a small async/await layer (FieldCrew).
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
            name: "fieldcrew_ffiFFI",
            dependencies: ["FieldCrewCore"],
            path: "Sources/fieldcrew_ffiFFI"
        ),
        .target(
            name: "FieldCrewFFI",
            dependencies: ["fieldcrew_ffiFFI"],
            path: "Sources/FieldCrewFFI"
        ),
        .target(
            name: "FieldCrew",
            dependencies: ["FieldCrewFFI"],
            path: "Sources/FieldCrew"
        ),
    ]
)
