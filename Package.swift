// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "warren",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "warren", targets: ["warren"]),
        .executable(name: "warren-sandbox", targets: ["warren-sandbox"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    ],
    targets: [
        // MARK: - C shims
        .target(name: "CLinux", path: "Sources/CLinux"),
        .systemLibrary(name: "CSeccompSystem", path: "Sources/CSeccompSystem",
                       pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .target(name: "CSeccomp", dependencies: ["CSeccompSystem"], path: "Sources/CSeccomp"),
        .systemLibrary(name: "CCap", path: "Sources/CCap",
                       pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive",
                       pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),

        // MARK: - Libraries
        .target(name: "WarrenCore", swiftSettings: strict),
        .target(name: "WarrenStore", dependencies: [
            "WarrenCore",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "RuntimeDriver", dependencies: [
            "WarrenCore",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Drivers/RuntimeDriver", swiftSettings: strict),
        .target(name: "LinuxSupport", dependencies: ["WarrenCore", "CLinux"], swiftSettings: strict),
        .target(name: "NativeDriver", dependencies: [
            "WarrenCore", "RuntimeDriver", "LinuxSupport", "CLinux",
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Drivers/NativeDriver", swiftSettings: strict),
        .target(name: "DockerDriver", dependencies: [
            "WarrenCore", "RuntimeDriver", "LinuxSupport", "CLinux",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Drivers/DockerDriver", swiftSettings: strict),
        .target(name: "NativeSandbox", dependencies: [
            "WarrenCore", "LinuxSupport", "CLinux", "CSeccomp", "CCap",
        ], path: "Sources/NativeSandbox", swiftSettings: strict),
        .target(name: "ImageStore", dependencies: [
            "WarrenCore", "LinuxSupport", "CLinux", "CArchive",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "LLMFacade", dependencies: [
            "WarrenCore",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .target(name: "Agents", dependencies: ["WarrenCore", "LinuxSupport"], swiftSettings: strict),
        .target(name: "EgressProxy", dependencies: [
            "WarrenCore", "LinuxSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strict),
        .target(name: "WarrenDaemon", dependencies: [
            "WarrenCore", "WarrenStore", "ImageStore", "RuntimeDriver", "NativeDriver", "DockerDriver", "LLMFacade", "CLinux",
            "LinuxSupport", "Agents", "EgressProxy",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
        ], swiftSettings: strict),
        .target(name: "WarrenClient", dependencies: [
            "WarrenCore",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: strict),
        .target(name: "WarrenCLI", dependencies: [
            "WarrenCore", "WarrenClient", "WarrenDaemon", "ImageStore", "CLinux",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // MARK: - Executables
        .executableTarget(name: "warren", dependencies: ["WarrenCLI"], swiftSettings: strict),
        .executableTarget(name: "warren-sandbox", dependencies: ["NativeSandbox"], swiftSettings: strict),
        .target(name: "BenchSupport", path: "Benchmarks/BenchSupport", swiftSettings: strict),
        .executableTarget(name: "warren-bench-start", dependencies: ["BenchSupport"], path: "Benchmarks/StartLatency", swiftSettings: strict),
        .executableTarget(name: "warren-bench-docker", dependencies: ["BenchSupport"], path: "Benchmarks/DockerStart", swiftSettings: strict),
        .executableTarget(name: "warren-bench-llm", dependencies: [
            "BenchSupport",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], path: "Benchmarks/FacadeLatency", swiftSettings: strict),
        .executableTarget(name: "warren-bench-notebook", dependencies: ["BenchSupport"], path: "Benchmarks/NotebookLatency",
                          swiftSettings: strict),
        .executableTarget(name: "warren-bench-egress", dependencies: ["BenchSupport"], path: "Benchmarks/EgressThroughput",
                          swiftSettings: strict),
        .executableTarget(name: "warren-bench-agent", dependencies: ["BenchSupport", "Agents", "WarrenCore"],
                          path: "Benchmarks/AgentTurn", swiftSettings: strict),
        .executableTarget(name: "warren-bench-pull", path: "Benchmarks/PullThroughput", exclude: ["make-image.py"],
                          swiftSettings: strict),

        // MARK: - Tests
        .target(name: "WarrenTestSupport", dependencies: ["WarrenCore", "LinuxSupport", "CLinux"], path: "Tests/WarrenTestSupport"),
        .testTarget(name: "WarrenCoreTests", dependencies: ["WarrenCore"]),
        .testTarget(name: "WarrenStoreTests", dependencies: ["WarrenStore", "WarrenCore"]),
        .testTarget(name: "NativeSandboxTests", dependencies: [
            "NativeSandbox", "NativeDriver", "RuntimeDriver", "LinuxSupport", "WarrenCore", "WarrenTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "WarrenDaemonTests", dependencies: [
            "WarrenDaemon", "WarrenCore", "WarrenStore", "RuntimeDriver",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .testTarget(name: "ImageStoreTests", dependencies: [
            "ImageStore", "WarrenCore", "LinuxSupport", "CLinux", "WarrenTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LLMFacadeTests", dependencies: ["LLMFacade"]),
        .testTarget(name: "AgentsTests", dependencies: ["Agents", "WarrenCore", "LinuxSupport"]),
        .testTarget(name: "EgressProxyTests", dependencies: [
            "EgressProxy", "WarrenCore",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "DockerDriverTests", dependencies: [
            "DockerDriver", "WarrenCore", "LinuxSupport", "WarrenTestSupport",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "IntegrationTests", dependencies: ["WarrenClient", "WarrenCore", "LinuxSupport", "NativeDriver", "ImageStore", "WarrenTestSupport"]),
    ]
)
