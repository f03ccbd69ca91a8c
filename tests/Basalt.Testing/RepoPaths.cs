namespace Basalt.Testing;

public static class RepoPaths
{
    /// <summary>The checkout's root: the folder holding Basalt.slnx, found from the test binaries upwards.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration the tests run under, read from their own output path.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string ServerDll => Path.Combine(Root, "src", "Basalt.Server", "bin", Configuration, "net10.0", "basalt-server.dll");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Basalt.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Basalt.slnx not found above " + AppContext.BaseDirectory);
    }
}
