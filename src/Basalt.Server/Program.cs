using System.Runtime.InteropServices;
using Basalt.Server;

var config = new ServerConfig();
try
{
    config.ApplyArguments(args);
}
catch (ConfigException ex)
{
    Console.Error.WriteLine($"*** FATAL CONFIG ERROR *** {ex.Message}");
    return 1;
}

Directory.CreateDirectory(config.Dir);
using var server = new BasaltServer(config);
try
{
    server.Start();
}
catch (System.Net.Sockets.SocketException ex)
{
    server.Log.Error($"Could not listen on {config.Bind}:{config.Port}: {ex.Message}");
    return 1;
}

using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
{
    ctx.Cancel = true;
    server.Log.Info("Received SIGTERM scheduling shutdown...");
    server.RequestStop();
});
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx =>
{
    ctx.Cancel = true;
    server.Log.Info("Received SIGINT scheduling shutdown...");
    server.RequestStop();
});

server.WaitUntilStopped();
server.Log.Info("Basalt is now ready to exit, bye bye...");
return 0;
