from realtime.cli.main import run

run()
