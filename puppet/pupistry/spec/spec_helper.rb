# frozen_string_literal: true

require 'fileutils'

# Run from the module's directory. The module path is spec/fixtures/modules
# (rspec-puppet links this module there) and the system's modules, where
# Debian's puppetlabs-stdlib lives: nothing to download. The spec helper
# below needs the fixtures directory to exist when it is loaded.
ENV['MODULEPATH'] ||= '/usr/share/puppet/modules'
FileUtils.mkdir_p(File.join(__dir__, 'fixtures', 'modules'))

RSpec.configure do |c|
  c.mock_with :rspec
end

require 'puppetlabs_spec_helper/module_spec_helper'
require 'rspec-puppet-facts'
include RspecPuppetFacts

RSpec.configure do |c|
  c.strict_variables = true
end

# An armoured public key block: the module checks the armour, not the key.
PUBLIC_KEY = <<~KEY
  -----BEGIN PGP PUBLIC KEY BLOCK-----

  xjMEaUZ9ABYJKwYBBAHaRw8BAQdAc2FtcGxlIGtleSBieXRlcyBmb3IgcHVwaXN0cnkg
  =Pupi
  -----END PGP PUBLIC KEY BLOCK-----
KEY
