from tpdoctor.cli import main

main()
